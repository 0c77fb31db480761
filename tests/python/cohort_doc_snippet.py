"""Runs the Python snippet of docs/cohort-file.md (the first ```python block) on a cohort file,
so that the documented way of reading the file keeps working.

usage: cohort_doc_snippet.py FILE.h5
"""
import pathlib
import re
import sys

doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "cohort-file.md"
match = re.search(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
if not match:
    raise SystemExit(f"no ```python block in {doc}")
code = match.group(1).replace('"cohort.h5"', repr(sys.argv[1]))
exec(compile(code, str(doc), "exec"), {"__name__": "__main__"})
