#!/usr/bin/env bash
# Checks the Helm chart (helm/lantern). No helm binary can be installed where CI runs, so the
# chart is rendered by Helm's own engine as a library (helm/lantern/ci/render, Go module
# helm.sh/helm/v3: the loader, values schema check and template engine `helm template` uses):
#  1. yamllint on the chart's plain YAML;
#  2. check-jsonschema: values.schema.json is a valid schema, values.yaml and ci/full-values.yaml
#     pass it, every file in ci/invalid/ is refused by it, and every value has its type and
#     description there (ci/documented.py);
#  3. the chart renders with the defaults and with every optional part on (ci/full-values.yaml);
#     the output passes yamllint and kubernetes-validate --strict;
#  4. rendering refuses the ci/invalid/ values and more processor replicas than partitions.
# The rendered lantern.toml is loaded by Lantern itself in the cargo tests (tests/e2e/chart.rs,
# which finds the renderer through E2E_HELM_RENDER), and the dashboards' metrics are checked
# against docs/metrics.md there too (tests/e2e/metrics_spec.rs).
set -euo pipefail

cd "$(dirname "$0")/.."
chart=helm/lantern
venv="${HOME}/.cache/lantern/chart-venv"
if ! "$venv/bin/python" -c 'import yamllint, check_jsonschema, kubernetes_validate' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'yamllint==1.38.0' 'check-jsonschema==0.39.0' \
    'kubernetes-validate==1.37.0'
fi
render="${HOME}/.cache/lantern/bin/lantern-helm-render"
mkdir -p "$(dirname "$render")"
(cd "$chart/ci/render" && go build -o "$render" .)

echo "== yamllint"
"$venv/bin/yamllint" --strict -c "$chart/.yamllint" "$chart/Chart.yaml" "$chart/values.yaml" \
  "$chart"/ci/*.yaml "$chart"/ci/invalid/*.yaml

echo "== check-jsonschema"
"$venv/bin/check-jsonschema" --check-metaschema "$chart/values.schema.json"
"$venv/bin/check-jsonschema" --schemafile "$chart/values.schema.json" \
  "$chart/values.yaml" "$chart/ci/full-values.yaml"
for invalid in "$chart"/ci/invalid/*.yaml; do
  if "$venv/bin/check-jsonschema" --schemafile "$chart/values.schema.json" "$invalid" >/dev/null; then
    echo "values.schema.json accepted $invalid, which it must refuse" >&2
    exit 1
  fi
  echo "refused, as it must be: $invalid"
done

echo "== every value documented"
"$venv/bin/python" "$chart/ci/documented.py" "$chart"

echo "== render (Helm's engine) + kubernetes-validate"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for values in default full; do
  args=()
  [ "$values" = full ] && args=("$chart/ci/full-values.yaml")
  "$render" "$chart" "$out/$values" "${args[@]}"
  rm -f "$out/$values/NOTES.txt"
  "$venv/bin/yamllint" --strict \
    -d '{extends: default, rules: {line-length: disable, document-start: disable, empty-lines: disable, trailing-spaces: disable, indentation: {indent-sequences: whatever}}}' \
    "$out/$values"
  # ServiceMonitor is a Prometheus Operator CRD: kubernetes-validate has no schema for it and
  # says so as a warning (its YAML is linted above).
  "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version 1.30.0 "$out/$values"/*.yaml
  echo "rendered and valid: $values values ($(ls "$out/$values" | wc -l) manifests)"
done

echo "== render refuses bad values"
for invalid in "$chart"/ci/invalid/*.yaml; do
  if "$render" "$chart" "$out/invalid" "$invalid" 2>/dev/null; then
    echo "helm rendered $invalid, which values.schema.json must refuse" >&2
    exit 1
  fi
done
too_many="$out/too-many-replicas.yaml"
printf 'kafka:\n  partitions: 2\nprocessor:\n  replicas: 3\n' > "$too_many"
if message="$("$render" "$chart" "$out/replicas" "$too_many" 2>&1)"; then
  echo "helm rendered 3 processor replicas for 2 partitions" >&2
  exit 1
fi
grep -q "processor.replicas (3) is more than kafka.partitions (2)" <<<"$message" || {
  echo "unexpected refusal: $message" >&2
  exit 1
}
echo "refused, as it must be: 3 processor replicas for 2 partitions"
echo "Chart checks passed."
