#!/usr/bin/env bash
# Fails when a file tracked by git is over LIMIT bytes (default 1 MiB) and is not test data: a large file in
# the repository is almost always a build output committed by mistake (a 55 MB bench executable once was).
# Run by make lint.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${LIMIT:-1048576}

# The generated CRDs have a tighter budget of their own (api/v1alpha1/crd_size_test.go).

status=0
while IFS= read -r -d '' file; do
  [ -f "$file" ] || continue # deleted in the work tree
  case "/$file" in */testdata/*) continue ;; esac
  size=$(stat -c %s "$file")
  [ "$size" -gt "$limit" ] || continue
  echo "error: $file is $size bytes, over the $limit-byte limit for files in git: a build output? Remove it (git rm --cached) and ignore it in .gitignore" >&2
  status=1
done < <(git ls-files -z)
exit $status
