"""Checks `inspection_json` of the partly done cohort in tests/unit/cohort/test_inspect.cpp with
Python's json: totals, job, slide statuses, the error and the top classes. Prints "ok".
usage: inspect_json_check.py INSPECT.json"""
import json
import sys

d = json.load(open(sys.argv[1]))
t = d["totals"]
assert (t["slides_done"], t["slides_failed"], t["slides_pending"]) == (1, 1, 1), t
assert (t["units_done"], t["units_total"], t["tiles_done"], t["tiles_total"]) == (3, 4, 14, 17), t
assert d["resumable"] is True and d["end_state"] == "running", d
numerics = d["job"].pop("numeric_config")
assert d["job"] == {"mode": "classify", "model": "resnet18-kather100k", "resolution": "0.5 mpp",
                    "class_names": ["BACK", "TUM", "STR"]}, d["job"]
assert numerics["batch_size"] == 8 and numerics["cpu_isa"] == "avx2" and numerics["decided_by"] == "rule", numerics
assert [s["status"] for s in d["slides"]] == ["done", "failed", "pending"], d["slides"]
assert d["slides"][1]["error"] == "cannot open: not a slide"
assert [c["class"] for c in d["slides"][0]["top_classes"]] == ["TUM", "STR"]
assert abs(d["slides"][0]["top_classes"][0]["fraction"] - 0.6) < 1e-6
print("ok")
