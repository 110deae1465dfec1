#!/usr/bin/env bash
# Fails on an import that points up or sideways (ARCHITECTURE.md, "layers point down"). Layers, top down:
# main → server → (app, redis, state) → (http, metrics) → leaves, and the leaves in three tiers of their own. Every
# `crate::NAME` outside a comment must name the file's own module or one of a lower layer (a bigger number);
# `crate::{..}` and `super::super` are refused because this grep cannot follow them. main.rs is the top: skipped.
set -euo pipefail
cd "$(dirname "$0")/../src"
declare -A layer=([server]=1 [app]=2 [redis]=2 [state]=2 [http]=3 [metrics]=3 [config]=4 [counter]=4 [cpu]=4 [lifecycle]=4
  [log]=5 [calendar]=6 [limits]=6 [sync]=6)
bad=0
for file in $(find . -name '*.rs' ! -name main.rs ! -name lib.rs | sort); do
  own=$(echo "${file#./}" | sed -E 's#[/.].*##')
  [ -n "${layer[$own]:-}" ] || { echo "$file: module '$own' has no layer in scripts/check-layers.sh"; bad=1; continue; }
  while IFS=: read -r n target; do
    if [ "$target" = "{" ] || [ "$target" = super ]; then echo "$file:$n: write one 'use crate::module::..' per import"; bad=1
    elif [ -z "${layer[$target]:-}" ]; then echo "$file:$n: crate::$target has no layer"; bad=1
    elif [ "$target" != "$own" ] && [ "${layer[$target]}" -le "${layer[$own]}" ]; then
      echo "$file:$n: $own (layer ${layer[$own]}) imports crate::$target (layer ${layer[$target]}): points up or sideways"; bad=1
    fi
  done < <(sed -E 's#//.*##' "$file" | grep -noE 'crate::(\{|[a-z_]+)|super::super' | sed -E 's#crate::|::super##')
done
[ "$bad" = 0 ] && echo "check-layers: every import points down"
exit "$bad"
