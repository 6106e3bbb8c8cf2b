// Validate custom resources against their projects' published CRD schemas.
//
//   node validate.mjs < objects.json      (a JSON list of objects)
//
// The schemas are the CRDs' openAPIV3Schema as compiled by the kubernetes-models packages
// (pinned in package.json). Prints a JSON list, one entry per object:
//   {kind, name, status: "valid" | "invalid" | "no-schema", errors: [...]}
// and exits 0 (the caller decides what "no-schema" means).

const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "networking.istio.io": "@kubernetes-models/istio",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "argoproj.io": "@kubernetes-models/argo-workflows",
  "autoscaling.k8s.io": "@kubernetes-models/autoscaler",
};

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function check(obj) {
  const [group, version] = String(obj.apiVersion).split("/");
  const entry = { kind: obj.kind, name: obj?.metadata?.name ?? "", status: "valid", errors: [] };
  const pkg = PACKAGES[group];
  if (!pkg || !version) {
    entry.status = "no-schema";
    entry.errors.push(`no published schema packaged for ${obj.apiVersion}`);
    return entry;
  }
  let mod;
  try {
    mod = await import(`${pkg}/${group}/${version}/${obj.kind}`);
  } catch (err) {
    entry.status = "no-schema";
    entry.errors.push(`${pkg} has no ${group}/${version} ${obj.kind}: ${err.code ?? err.message}`);
    return entry;
  }
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
  } catch (err) {
    entry.status = "invalid";
    entry.errors.push(String(err.message ?? err));
  }
  return entry;
}

const objects = JSON.parse(await readStdin());
const results = [];
for (const obj of objects) results.push(await check(obj));
process.stdout.write(JSON.stringify(results) + "\n");
