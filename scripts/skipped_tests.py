"""Prints how many tests ctest skipped and why, from its JUnit report (ctest --output-junit):
the reason is the test's "SKIPPED: ..." line (tests that need the real reference slides print one).
usage: skipped_tests.py JUNIT_XML"""
import sys
import xml.etree.ElementTree as ET

skipped = []
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if case.find("skipped") is None:
        continue
    out = case.findtext("system-out") or ""
    reasons = [line for line in out.splitlines() if line.startswith("SKIPPED:")]
    skipped.append((case.get("name"), reasons[-1][len("SKIPPED:"):].strip() if reasons else
                    case.find("skipped").get("message", "no reason given")))
print(f"[wsi-mpi] {len(skipped)} test(s) skipped")
for name, reason in skipped:
    print(f"  {name}: {reason}")
