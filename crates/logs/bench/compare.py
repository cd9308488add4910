#!/usr/bin/env python3
"""Figures and address sets of crates/logs/bench/fail2ban.sh: pbxguard replay vs fail2ban-regex."""
import ipaddress
import json
import statistics
import subprocess
import sys
from collections import defaultdict

MAXRETRY, FINDTIME = 5, 600

d, lines = sys.argv[1], int(sys.argv[2])
replay_times = [float(x) for x in open(f"{d}/replay.times") if x.strip()]
f2b_time = float(open(f"{d}/fail2ban.time").read())
replay = json.load(open(f"{d}/replay.json"))
med = statistics.median(replay_times)
print(f"pbxguard replay : median {med:.3f} s of {len(replay_times)} runs -> {lines / med:,.0f} lines/s")
print(f"fail2ban-regex  : {f2b_time:.3f} s -> {lines / f2b_time:,.0f} lines/s")
print(f"ratio           : {f2b_time / med:.1f}x fail2ban's throughput")

times = defaultdict(list)
for row in open(f"{d}/fail2ban.rows"):
    row = row.strip()
    if not row.startswith("["):
        continue
    parts = row.strip("[],").split(",")
    ip = parts[0].strip().strip("'")
    times[ip].append(float(parts[1]))
flagged = set()
for ip, ts in times.items():
    ts.sort()
    if any(ts[i + MAXRETRY - 1] - ts[i] <= FINDTIME for i in range(len(ts) - MAXRETRY + 1)):
        flagged.add(ip)

bans = replay["bans"]
targets = {}
for b in bans:
    targets.setdefault(b["target"], b)
nets = [(ipaddress.ip_network(t, strict=False), b) for t, b in targets.items()]
alerts = defaultdict(list)
for a in replay["alerts"]:
    alerts[str(ipaddress.ip_network(a["source"], strict=False).network_address)].append(a)


def covering(ip):
    a = ipaddress.ip_address(ip)
    return [b for n, b in nets if a in n]


missed = sorted(ip for ip in flagged if not covering(ip))
extra = [
    (t, b) for t, b in targets.items()
    if not any(ipaddress.ip_address(ip) in ipaddress.ip_network(t, strict=False) for ip in flagged)
]
print(f"fail2ban flags {len(flagged)} addresses ({sum(len(v) for v in times.values())} matching lines, "
      f"{len(times)} addresses matched at least once)")
print(f"pbxguard bans  {len(targets)} targets ({len(bans)} bans), {len(replay['alerts'])} alerts; "
      f"{replay['events']} events in {replay['lines']} lines")
print(f"flagged by both: {len(flagged) - len(missed)}")


def sample(ip, n=2):
    out = subprocess.run(["grep", "-m", str(n), "-F", ip, f"{d}/full.log"], capture_output=True, text=True)
    return ["    " + l[:200] for l in out.stdout.splitlines()]


def authenticated(ip):
    out = subprocess.run(
        ["grep", "-c", "-E", f"(SuccessfulAuth.*/{ip}/|Registered SIP '[0-9]+' at {ip}:)", f"{d}/full.log"],
        capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


print(f"\nflagged by fail2ban, not banned by pbxguard: {len(missed)}")
for ip in missed:
    ok = authenticated(ip)
    why = alerts.get(ip, [])
    if ok:
        reason = (f"the address authenticated successfully {ok} times (an office behind NAT), so its threshold "
                  f"is multiplied by [trust] threshold_factor; one user kept failing, and pbxguard raised "
                  f"{len(why)} user-failing alert(s) instead of banning the office"
                  + ("" if why else " (none: the windowed per-user estimate stayed under 5)"))
    else:
        reason = "UNEXPLAINED"
    print(f"  {ip}: {len(times[ip])} fail2ban matches; {reason}")
    if reason == "UNEXPLAINED":
        print("\n".join(sample(ip, 3)))

print(f"\nbanned by pbxguard, not flagged by fail2ban: {len(extra)}")
for t, b in sorted(extra, key=lambda x: x[0]):
    ip = t.split("/")[0]
    n = len(times.get(ip, []))
    if b["detector"] == "scanner":
        reason = f"a friendly-scanner line bans at once; fail2ban needs {MAXRETRY} matches"
    elif n >= MAXRETRY:
        reason = f"{n} matches, never {MAXRETRY} within {FINDTIME}s for fail2ban"
    else:
        # The ban target's own lines: an IPv4 address, or every address of an IPv6 prefix.
        needle = f"failed for '[{ip.rstrip(':')}:" if ":" in ip else f"failed for '{ip}:"
        own = subprocess.run(["grep", "-F", needle, f"{d}/full.log"], capture_output=True, text=True)
        k = sum(1 for l in own.stdout.splitlines() if "No matching endpoint found after" in l)
        if k:
            reason = (f"only {n} lines match fail2ban's filter: {k} are Asterisk 18+ PJSIP lines ending "
                      f"'No matching endpoint found after N tries in X ms', which Debian's filter anchors away")
        else:
            reason = f"only {n} lines match fail2ban's filter"
            print("\n".join(sample(ip, 3)))
    print(f"  {t}: pbxguard {b['detector']} ({b['count']} >= {b['threshold']}); {reason}")
