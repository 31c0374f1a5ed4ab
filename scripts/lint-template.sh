#!/usr/bin/env bash
# Lints an AWS SAM template with both linters the project requires:
#   sam validate --lint   (the SAM transform, then cfn-lint's rules)
#   cfn-lint              (on the template as written)
# Usage: scripts/lint-template.sh [TEMPLATE]   (default: template.yaml)
# The linters come from .venv/bin (REDOX_VENV overrides the venv folder).
# Exit: 0 both pass; 1 a linter failed (named on stderr); 2 usage error;
#       3 the linters are not installed in .venv (run `make venv`).
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_bin="${REDOX_VENV:-$root/.venv}/bin"

if [ "$#" -gt 1 ]; then
    echo "usage: $0 [TEMPLATE]" >&2
    exit 2
fi
template="${1:-$root/template.yaml}"
if [ ! -f "$template" ]; then
    echo "lint-template: no such template: $template" >&2
    exit 2
fi

for tool in sam cfn-lint; do
    if [ ! -x "$venv_bin/$tool" ]; then
        echo "lint-template: $venv_bin/$tool is missing; run \`make venv\` to install the template linters" >&2
        exit 3
    fi
done

# Both tools need a region to pick resource schemas; neither needs credentials.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# No telemetry: the lint must not depend on the network.
export SAM_CLI_TELEMETRY=0

failed=()
echo "lint-template: sam validate --lint -t $template"
if ! "$venv_bin/sam" validate --lint -t "$template"; then
    failed+=("sam validate --lint")
fi
echo "lint-template: cfn-lint $template"
if ! "$venv_bin/cfn-lint" -- "$template"; then
    failed+=("cfn-lint")
fi

if [ "${#failed[@]}" -gt 0 ]; then
    for name in "${failed[@]}"; do
        echo "lint-template: FAILED: $name on $template" >&2
    done
    exit 1
fi
echo "lint-template: OK: sam validate --lint and cfn-lint pass on $template"
