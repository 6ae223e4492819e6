"""k8s_check.py - an offline check of deploy/kubernetes/: every manifest
parses, names the fields the API requires for its kind, and the pieces
agree with each other (selectors match the pod labels; probes, Service
target ports and volume mounts name things that exist; the workers reach
the driver through the Service; the secret every pod mounts is defined;
kiln's flags are ones the binaries accept). kubectl's client-side dry run
needs an API server for discovery, so this stands in for it.
Prints "N passed, M failed". Usage: k8s_check.py DIR BUILD_DIR"""
import glob
import os
import subprocess
import sys

import yaml

passed = failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS", name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def flags_of(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return {w.strip("[]").split("=")[0] for w in (out.stdout + out.stderr).split() if w.strip("[]").startswith("--")}


def main(d, build):
    docs = []
    for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append((os.path.basename(path), doc))
    check("manifests_parse", len(docs) >= 4, "%d documents" % len(docs))
    by_kind = {}
    for fname, doc in docs:
        kind = doc.get("kind")
        ok = doc.get("apiVersion") and kind and doc.get("metadata", {}).get("name")
        check("%s_%s_has_apiVersion_kind_name" % (fname, kind), bool(ok), str(doc)[:80])
        by_kind.setdefault(kind, []).append(doc)
    secrets = {s["metadata"]["name"] for s in by_kind.get("Secret", [])}
    check("secret_defined", "kiln-secret" in secrets, str(secrets))
    services = by_kind.get("Service", [])
    helps = {"kiln-driver": flags_of(os.path.join(build, "kiln-driver")),
             "kiln-worker": flags_of(os.path.join(build, "kiln-worker"))}
    for kind in ("Deployment", "DaemonSet"):
        for w in by_kind.get(kind, []):
            name = w["metadata"]["name"]
            spec = w["spec"]
            labels = spec["template"]["metadata"]["labels"]
            sel = spec["selector"]["matchLabels"]
            check(name + "_selector_matches_pods", all(labels.get(k) == v for k, v in sel.items()), str(sel))
            vols = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
            for c in spec["template"]["spec"]["containers"]:
                check(name + "_image", bool(c.get("image")))
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                for probe in ("readinessProbe", "livenessProbe"):
                    p = c.get(probe, {}).get("httpGet", {})
                    check("%s_%s_on_a_port" % (name, probe), p.get("port") in ports, str(p))
                for m in c.get("volumeMounts", []):
                    check("%s_mount_%s" % (name, m["name"]), m["name"] in vols)
                for v in vols.values():
                    if "secret" in v:
                        check(name + "_secret_exists", v["secret"]["secretName"] in secrets)
                        check(name + "_secret_mode_0400", v["secret"].get("defaultMode") == 0o400,
                              "kiln refuses a secret readable by group or others")
                args = c.get("args", [])
                binary = args[0] if args else ""
                check(name + "_runs_kiln", binary in helps, binary)
                unknown = [a for a in args[1:] if a.startswith("--") and a not in helps.get(binary, set())]
                check(name + "_flags_known", not unknown, str(unknown))
                if "--secret-file" in args:
                    sf = args[args.index("--secret-file") + 1]
                    check(name + "_secret_file_mounted",
                          any(sf.startswith(m["mountPath"] + "/") for m in c.get("volumeMounts", [])), sf)
                if "--driver" in args:
                    host, port = args[args.index("--driver") + 1].split(":")
                    svc = [s for s in services if s["metadata"]["name"] == host]
                    check(name + "_driver_is_a_service", bool(svc), host)
                    if svc:
                        check(name + "_driver_port", int(port) in [p["port"] for p in svc[0]["spec"]["ports"]])
            if kind == "Deployment":
                for s in services:
                    if all(labels.get(k) == v for k, v in s["spec"]["selector"].items()):
                        names = {p["name"] for c in spec["template"]["spec"]["containers"] for p in c["ports"]}
                        check(s["metadata"]["name"] + "_targets_exist",
                              all(p["targetPort"] in names for p in s["spec"]["ports"]))
    check("has_driver_deployment", any(w["metadata"]["name"] == "kiln-driver" for w in by_kind.get("Deployment", [])))
    check("has_worker_daemonset", any(w["metadata"]["name"] == "kiln-worker" for w in by_kind.get("DaemonSet", [])))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
