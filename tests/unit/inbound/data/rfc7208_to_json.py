#!/usr/bin/python3
# Converts the RFC 7208 test suite (rfc7208-tests.yml, the openspf.org
# suite as pyspf ships it) to rfc7208-tests.json, which the unit test
# reads. Run once when the YAML changes:
#   python3 rfc7208_to_json.py rfc7208-tests.yml > rfc7208-tests.json
# The zone data follows the suite's convention: an SPF (type 99) record is
# also served as TXT unless the name has TXT records of its own, and
# "TXT: NONE" means the name has none. TIMEOUT makes every query of a type
# not listed before it time out.
import json
import sys

import yaml


def texts(value):
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def zone(data):
    out = {}
    for name, records in data.get("zonedata", {}).items():
        entries = []
        generated = []
        has_txt = False
        for record in records:
            if record == "TIMEOUT":
                entries.append(["TIMEOUT"])
                continue
            (rtype, value), = record.items()
            if rtype == "TXT":
                has_txt = True
            if rtype in ("TXT", "SPF"):
                value = texts(value)
                if rtype == "SPF":
                    generated.append(["TXT", value])
                if value == ["NONE"]:
                    continue
            elif rtype == "MX":
                value = [int(value[0]), str(value[1])]
            else:
                value = str(value)
            entries.append([rtype, value])
        if not has_txt:
            entries.extend(generated)
        out[name.lower()] = entries
    return out


def main():
    scenarios = []
    with open(sys.argv[1], "rb") as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            tests = {}
            for test_id, t in doc["tests"].items():
                result = t["result"]
                tests[test_id] = {
                    "helo": t.get("helo", ""),
                    "host": t["host"],
                    "mailfrom": t.get("mailfrom", ""),
                    "result": result if isinstance(result, list) else [result],
                    "explanation": t.get("explanation"),
                }
            scenarios.append({"description": doc.get("description", ""), "tests": tests, "zone": zone(doc)})
    json.dump(scenarios, sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


main()
