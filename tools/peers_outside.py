import gzip, sys, collections
sys.path.insert(0, ".")
from tests.test_outside import MEASURED, OUTCOMES, DATA
import cnncost
rows = []
for model, outcome in OUTCOMES.items():
    if outcome != "imported" or model not in MEASURED:
        continue
    g = cnncost.load_text(gzip.decompress((DATA / "outside_imports" / f"{model}.yaml.gz").read_bytes()).decode(), name=model)
    out = []
    for conv in ("thop", "torchinfo", "torchscan"):
        p, m = MEASURED[model].get(conv, ("NA", "NA"))
        if m == "NA":
            out.append(f"{conv}:NA"); continue
        r = cnncost.analyze(g, convention=conv).totals
        ok_p, ok_m = r.params == int(p), r.macs == int(m)
        out.append(f"{conv}:{'ok' if ok_p and ok_m else ('P' if not ok_p else '') + ('M' if not ok_m else '')}"
                   + ("" if ok_m else f"({r.macs - int(m):+,})"))
    rows.append((model, out))
bad = [(m, o) for m, o in rows if any(not x.endswith(":ok") for x in o)]
print(len(rows), "imported+measured;", len(rows) - len(bad), "exact in all three")
for m, o in bad: print(m, " ".join(o))
