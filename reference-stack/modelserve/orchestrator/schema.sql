-- Orchestrator tables in PostgreSQL: finished runs (history) and the models steps called.
-- Applied by modelserve.orchestrator.history at start-up; every statement is idempotent.
CREATE TABLE IF NOT EXISTS orchestrator_runs (
    run_id       text PRIMARY KEY,
    pipeline     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    overhead_ms  double precision,
    claims       integer NOT NULL,          -- 1 = ran on one replica; more = resumed
    input        jsonb,                     -- long strings (images) replaced by their length
    result       jsonb,
    error        jsonb,
    steps        jsonb NOT NULL,            -- step -> {status, attempts, claims, latency_s}
    recorded_by  text NOT NULL
);
CREATE INDEX IF NOT EXISTS orchestrator_runs_pipeline_created
    ON orchestrator_runs (pipeline, created_at DESC);

CREATE TABLE IF NOT EXISTS model_metadata (
    service      text NOT NULL,             -- service name in MSAI_ORCH_SERVICES, or builtin:NAME
    model        text NOT NULL,
    version      text NOT NULL,
    platform     text NOT NULL,
    metadata     jsonb NOT NULL,            -- the Open Inference Protocol model metadata
    seen_at      timestamptz NOT NULL,
    PRIMARY KEY (service, model, version)
);
