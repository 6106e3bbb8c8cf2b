-- Model metadata and run history (local platform; the orchestrator writes finished runs).
CREATE TABLE IF NOT EXISTS model_versions (
    model       text        NOT NULL,
    version     text        NOT NULL,
    uri         text        NOT NULL,
    sha256      text,
    s3_version  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);

CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id       text        PRIMARY KEY,
    pipeline     text        NOT NULL,
    status       text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    result       jsonb,
    error        text
);

CREATE TABLE IF NOT EXISTS pipeline_steps (
    run_id       text        NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,
    step         text        NOT NULL,
    status       text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    latency_ms   double precision,
    PRIMARY KEY (run_id, step)
);
