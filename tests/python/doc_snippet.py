"""Runs the first ```python block of a document (README.md, docs/cohort-file.md) on a cohort
file, so that the documented way of reading the file keeps working.

usage: doc_snippet.py DOC.md FILE.h5      (the block's "cohort.h5" is replaced by FILE.h5)
"""
import pathlib
import re
import sys

doc = pathlib.Path(sys.argv[1])
match = re.search(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
if not match:
    raise SystemExit(f"no ```python block in {doc}")
code = match.group(1).replace('"cohort.h5"', repr(sys.argv[2]))
exec(compile(code, str(doc), "exec"), {"__name__": "__main__"})
