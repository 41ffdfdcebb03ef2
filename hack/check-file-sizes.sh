#!/usr/bin/env bash
# Fails when a file tracked by git is over LIMIT bytes (default 1 MiB) and is not test data: a large file in
# the repository is almost always a build output committed by mistake (a 55 MB bench executable once was).
# Run by make lint.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${LIMIT:-1048576}

# Exceptions, each with the reason and the issue that removes it.
# The generated LongTask CRD carries the embedded pod template twice (spec and status.resolvedTask), 1.28 MB;
# the foundation issue (21) brings every CRD under 700 KB and removes these two lines.
allowed=(
  config/crd/bases/longtask.dev_longtasks.yaml
  charts/longtask/crds/longtask.dev_longtasks.yaml
)

status=0
while IFS= read -r -d '' file; do
  [ -f "$file" ] || continue # deleted in the work tree
  case "/$file" in */testdata/*) continue ;; esac
  size=$(stat -c %s "$file")
  [ "$size" -gt "$limit" ] || continue
  for a in "${allowed[@]}"; do [ "$file" = "$a" ] && continue 2; done
  echo "error: $file is $size bytes, over the $limit-byte limit for files in git: a build output? Remove it (git rm --cached) and ignore it in .gitignore" >&2
  status=1
done < <(git ls-files -z)
exit $status
