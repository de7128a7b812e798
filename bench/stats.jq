# The aggregates `stats` reports, as a streaming jq reduce: what a user would
# otherwise write. Run as: jq -n -c -f bench/stats.jq FILE
def num: type == "number";
def axis($lo; $hi):
  . as $x
  | {n: 1, sum: $x, sq: ($x * $x), min: $x, max: $x,
     bin: (if $x >= $lo and $x <= $hi
           # scale before shifting, as stats does, so -0.8 opens its own bin
           then (10 / ($hi - $lo)) as $k | ([(($x * $k - $lo * $k) | floor), 9] | min)
           else null end)};
def add_axis($s; $a):
  if $a == null then $s
  else {n: ($s.n + 1), sum: ($s.sum + $a.sum), sq: ($s.sq + $a.sq),
        min: ([$s.min, $a.min] | map(select(. != null)) | min),
        max: ([$s.max, $a.max] | max),
        bins: (if $a.bin == null then $s.bins else ($s.bins | .[$a.bin] += 1) end)}
  end;
def empty_axis: {n: 0, sum: 0, sq: 0, min: null, max: null, bins: [0,0,0,0,0,0,0,0,0,0]};
reduce inputs as $r (
  {rows: 0, valence: empty_axis, intimacy: empty_axis, tension: empty_axis, confidence: empty_axis,
   distant: 0, positive: 0, negative: 0, high_intimacy: 0, high_tension: 0, tags: {}, archetypes: {}, sources: {}};
  .rows += 1
  | .valence = add_axis(.valence; ($r.valence | if num then axis(-1; 1) else null end))
  | .intimacy = add_axis(.intimacy; ($r.intimacy | if num then axis(-1; 1) else null end))
  | .tension = add_axis(.tension; ($r.tension | if num then axis(-1; 1) else null end))
  | .confidence = add_axis(.confidence; ($r.confidence | if num then axis(0; 1) else null end))
  | .distant += (if ($r.intimacy | num) and $r.intimacy <= -0.1 then 1 else 0 end)
  | .high_intimacy += (if ($r.intimacy | num) and $r.intimacy >= 0.3 then 1 else 0 end)
  | .positive += (if ($r.valence | num) and $r.valence >= 0.2 then 1 else 0 end)
  | .negative += (if ($r.valence | num) and $r.valence <= -0.2 then 1 else 0 end)
  | .high_tension += (if ($r.tension | num) and $r.tension >= 0.4 then 1 else 0 end)
  | reduce ($r.tags // [])[] as $t (.; .tags[$t] += 1)
  | .archetypes[($r.archetype // "(none)") | tostring] += 1
  | .sources[($r.source // "(none)") | tostring] += 1
)
| . as $s
| .top_tags = ($s.tags | to_entries | sort_by(-.value, .key) | .[:10])
| del(.tags)
| (.valence, .intimacy, .tension, .confidence) |= (. + {mean: (if .n > 0 then .sum / .n else null end)})
