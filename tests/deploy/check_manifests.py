#!/usr/bin/python3
"""Offline checks of deploy/: renders every kustomize overlay with kubectl and
checks the fields that matter, checks spoofd's config keys against its own
--help, and checks deploy/Containerfile's shape.

    tests/deploy/check_manifests.py --kubectl kubectl --spoofd build/bin/spoofd

Exits 1 with one line per problem (there is no cluster: `kubectl apply
--dry-run=client` needs one for API discovery, so the schema-level checks
that matter are made here).
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)
    return ok


def render(kubectl, overlay):
    out = subprocess.run([kubectl, "kustomize", str(REPO / overlay)], capture_output=True,
                         text=True)
    if not check(out.returncode == 0, f"{overlay}: kubectl kustomize failed: {out.stderr.strip()}"):
        return []
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    for d in docs:
        check(d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"),
              f"{overlay}: a document without apiVersion/kind/metadata.name")
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, overlay):
    found = by_kind(docs, kind)
    check(len(found) == 1, f"{overlay}: want one {kind}, found {len(found)}")
    return found[0] if found else {}


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def spoofd_flags(spoofd):
    text = subprocess.run([spoofd, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"--([a-z][a-z0-9-]*)", text))


def check_bank(kubectl, spoofd):
    overlay = "deploy/k8s/overlays/bank"
    docs = render(kubectl, overlay)
    if not docs:
        return
    for d in docs:
        check(d["metadata"].get("namespace") == "spoofd",
              f"{overlay}: {d['kind']}/{d['metadata']['name']} not in namespace spoofd")
    dep = one(docs, "Deployment", overlay)
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    check(matches(dep["spec"]["selector"]["matchLabels"], labels),
          f"{overlay}: Deployment selector does not match its pods")
    spec = pod["spec"]
    c = spec["containers"][0]
    check(spec.get("securityContext", {}).get("runAsNonRoot") is True, f"{overlay}: not runAsNonRoot")
    check(c.get("image", "").startswith("registry.example.internal/spoofd:"),
          f"{overlay}: image not rewritten: {c.get('image')}")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        check(probe in c, f"{overlay}: no {probe}")
    check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
          f"{overlay}: readiness must follow the health status (/healthz)")
    res = c.get("resources", {})
    check("cpu" in res.get("requests", {}) and "memory" in res.get("requests", {}),
          f"{overlay}: no cpu/memory requests")
    check("memory" in res.get("limits", {}), f"{overlay}: no memory limit")
    # The config file: every key a real flag; TLS, tokens, connection age set.
    cm = one(docs, "ConfigMap", overlay)
    config = {}
    for line in cm.get("data", {}).get("spoofd.toml", "").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip().strip('"')
    if spoofd:
        flags = spoofd_flags(spoofd)
        for key in config:
            check(key in flags, f"{overlay}: spoofd.toml key '{key}' is not a spoofd flag")
    for key in ("tls-cert", "tls-key", "auth-token-file", "max-connection-age-s",
                "max-connection-age-grace-s", "drain-timeout-s"):
        check(key in config, f"{overlay}: spoofd.toml lacks {key}")
    drain_s = float(config.get("drain-timeout-s", 30))
    grace_s = spec.get("terminationGracePeriodSeconds", 30)
    check(grace_s > drain_s + 5, f"{overlay}: terminationGracePeriodSeconds {grace_s} must exceed "
                                 f"the drain ({drain_s} s) plus the preStop pause")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for key in ("tls-cert", "tls-key", "auth-token-file"):
        path = config.get(key, "")
        mount = next((m for m in mounts if path.startswith(m + "/")), None)
        if check(mount is not None, f"{overlay}: {key} {path} is not under a mounted volume"):
            check("secret" in volumes.get(mounts[mount], {}),
                  f"{overlay}: {key} does not come from a Secret")
    # Services: both select the pods; the headless one has no cluster IP.
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    check(set(services) == {"spoofd", "spoofd-headless"}, f"{overlay}: services {sorted(services)}")
    for s in services.values():
        check(matches(s["spec"]["selector"], labels),
              f"{overlay}: Service {s['metadata']['name']} does not select the pods")
    check(services.get("spoofd-headless", {}).get("spec", {}).get("clusterIP") == "None",
          f"{overlay}: spoofd-headless is not headless")
    hpa = one(docs, "HorizontalPodAutoscaler", overlay)
    check(hpa.get("spec", {}).get("scaleTargetRef", {}).get("name") == dep["metadata"]["name"],
          f"{overlay}: HPA does not scale the Deployment")
    check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"].get("metrics", [])),
          f"{overlay}: HPA not on CPU")
    check(hpa["spec"].get("minReplicas", 0) >= 2, f"{overlay}: HPA minReplicas < 2")
    pdb = one(docs, "PodDisruptionBudget", overlay)
    check(matches(pdb.get("spec", {}).get("selector", {}).get("matchLabels", {}), labels),
          f"{overlay}: PDB does not select the pods")
    np = one(docs, "NetworkPolicy", overlay)
    check(matches(np.get("spec", {}).get("podSelector", {}).get("matchLabels", {}), labels),
          f"{overlay}: NetworkPolicy does not select the pods")
    check("Ingress" in np.get("spec", {}).get("policyTypes", []) and np["spec"].get("ingress"),
          f"{overlay}: NetworkPolicy admits everyone")


def check_batch(kubectl):
    overlay = "deploy/k8s/overlays/seized-media"
    docs = render(kubectl, overlay)
    if not docs:
        return
    job = one(docs, "Job", overlay)
    spec = job.get("spec", {})
    check(spec.get("completionMode") == "Indexed", f"{overlay}: the Job is not Indexed")
    c = spec["template"]["spec"]["containers"][0]
    args = c.get("args", [])
    shard = [a for a in args if a.startswith("--shard=")]
    if check(len(shard) == 1, f"{overlay}: want one --shard=N in {args}"):
        check(shard[0] == f"--shard={spec.get('completions')}",
              f"{overlay}: {shard[0]} but completions={spec.get('completions')}")
    check(any("$(JOB_COMPLETION_INDEX)" in a for a in args if a.startswith("--out")),
          f"{overlay}: each shard needs its own --out file")
    env = {e["name"] for e in c.get("env", [])}
    check("JOB_COMPLETION_INDEX" in env, f"{overlay}: JOB_COMPLETION_INDEX not declared")
    check(c.get("command") == ["spoofctl"] and args[:1] == ["batch"], f"{overlay}: not spoofctl batch")
    check(spec.get("parallelism", 1) <= spec.get("completions", 1), f"{overlay}: parallelism > N")
    merge = yaml.safe_load((REPO / "deploy/k8s/batch/merge-job.yaml").read_text())
    text = " ".join(merge["spec"]["template"]["spec"]["containers"][0]["args"])
    check("spoofctl merge" in text and "--manifest" in text, "merge-job.yaml: not spoofctl merge")


def check_containerfile():
    text = (REPO / "deploy/Containerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    check(len(froms) >= 2 and all("debian:12" in f for f in froms),
          f"Containerfile: want a multi-stage Debian 12 build, FROM {froms}")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    check(users and not users[-1].startswith(("root", "0")), "Containerfile: runs as root")
    check(re.search(r"^HEALTHCHECK .*spoofd-health", text, re.M | re.S),
          "Containerfile: no HEALTHCHECK through spoofd-health")
    check("models/spoofd-default.pt" in text, "Containerfile: the default model is not baked in")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--spoofd", default="")
    args = parser.parse_args()
    check_bank(args.kubectl, args.spoofd)
    check_batch(args.kubectl)
    check_containerfile()
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check_manifests: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
