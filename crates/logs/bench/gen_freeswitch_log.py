#!/usr/bin/env python3
"""Writes a synthetic FreeSWITCH 1.10 freeswitch.log with a seeded mix, for timing the FreeSWITCH log
parser (through `pbxguard replay`) against fail2ban's freeswitch filter:

    python3 gen_freeswitch_log.py LINES SEED [VERSION] > freeswitch.log

VERSION is 1.10 (the default: the idle-CPU percentage follows the timestamp) or 1.6 (no percentage, the
format fail2ban's freeswitch filter expects).

About half the lines are ordinary noise (channel states, dialplan), a sixth are the challenges every
REGISTER gets (log-auth-failures on), a tenth or so belong to the four-line `Register:` debug entries of
NATed phones (profile debug=1), and the rest are attack campaigns: wrong passwords and unknown users from
a few addresses at a time. The same seed always gives the same file.
"""

import random
import sys


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 42)
    cpu = (sys.argv[3] if len(sys.argv) > 3 else "1.10") != "1.6"
    out = sys.stdout
    phones = [(f"198.51.100.{i}", str(1000 + i)) for i in range(1, 60)]
    attackers = [f"203.0.113.{i}" for i in range(1, 200)]
    written = 0
    t = 0
    while written < lines:
        t += rng.randint(0, 2)
        stamp = f"2026-11-22 {t // 3600 % 24:02}:{t // 60 % 60:02}:{t % 60:02}.{rng.randint(0, 999999):06}"
        idle = f"97.{rng.randint(10, 99)}%"
        if cpu:
            stamp = f"{stamp} {idle}"
        roll = rng.random()
        if roll < 0.50:
            uuid = f"{rng.getrandbits(32):08x}-5f7a-4c1b-9d3e-{rng.getrandbits(48):012x}"
            ip, user = rng.choice(phones)
            out.write(rng.choice([
                f"{uuid} {stamp} [NOTICE] switch_channel.c:1104 New Channel sofia/internal/{user}@pbx.example.com [{uuid}]\n",
                f"{uuid} {stamp} [INFO] mod_dialplan_xml.c:637 Processing {user} <{user}>->9{rng.randint(100, 999)} in context default\n",
                f"{uuid} {stamp} [DEBUG] sofia.c:7493 Channel sofia/internal/{user}@pbx.example.com entering state [calling][0]\n",
                f"{uuid} {stamp} [NOTICE] sofia.c:1063 Hangup sofia/internal/{user}@pbx.example.com [CS_EXECUTE] [NORMAL_CLEARING]\n",
            ]))
            written += 1
        elif roll < 0.67:
            ip, user = rng.choice(phones)
            out.write(f"{stamp} [WARNING] sofia_reg.c:1855 SIP auth challenge (REGISTER) on sofia profile 'internal' for [{user}@pbx.example.com] from ip {ip}\n")
            written += 1
        elif roll < 0.70:
            ip, user = rng.choice(phones)
            out.write(
                f"{stamp} [DEBUG] sofia_reg.c:1921 Register:\n"
                f"From:    [{user}@pbx.example.com]\n"
                f"Contact: [\"{user}\" <sip:{user}@192.168.1.{rng.randint(2, 250)}:5060;fs_nat=yes;fs_path=sip%3A{user}%40{ip}%3A{rng.randint(1024, 65535)}>]\n"
                f"Expires: [3600]\n"
            )
            written += 4
        else:
            ip = rng.choice(attackers)
            user = str(rng.randint(100, 9999))
            if rng.random() < 0.7:
                out.write(f"{stamp} [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia profile 'internal' for [{user}@pbx.example.com] from ip {ip}\n")
            else:
                out.write(f"{stamp} [WARNING] sofia_reg.c:3215 Can't find user [{user}@pbx.example.com] from {ip}\n")
            written += 1


if __name__ == "__main__":
    main()
