"""Full-scale synthetic polls for the benchmarks, shaped like the real poller's file.

    .venv/bin/python -m bench.synth SOURCE_DIR OUT_CSV [--start 2023-01-18] [--days 7.75]
                                    [--scale 1] [--seed 7] [--stores STORES_CSV]

The published dataset has complete business hours and timezones but only a sample of the
polls. This writes polls for every store named in SOURCE_DIR's ``menu_hours.csv`` and
``timezones.csv``, and 4 % more that neither names (they take the defaults), the way a
poller produces them: a sweep every hour, each store polled a few minutes past it (a gamma
of about 6 minutes), a quarter of polls missing on average (some stores far more often
than others), outages of a few hours (each store flips between up and down with chances of
its own), 3 % of stores down all along, and a store reporting ``inactive`` most of the time
it is closed. Sweeps are written in time order, their rows shuffled. ``--scale N`` makes
the fleet N times wider with new ids derived from the real ones (integer ids stay integers,
UUIDs stay UUIDs). Seeded: the same arguments write the same file. ``--stores`` also writes
a store directory for the same stores (made-up names; a region, a brand and a franchisee each).
"""

from __future__ import annotations

import argparse
import csv
from datetime import datetime, timedelta, UTC
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

HOURS_A_WEEK = 168


def store_ids(source: Path, scale: float) -> list[str]:
    named: set[str] = set()
    for name in ("menu_hours.csv", "timezones.csv"):
        with open(source / name, newline="", encoding="utf-8-sig") as f:
            named.update(row["store_id"].strip() for row in csv.DictReader(f))
    real = sorted(named)
    wanted = int(len(real) * scale) + int(len(real) * 0.04)
    made = []
    for i in range(wanted - len(real)):
        model = real[i % len(real)]
        if "-" in model:  # a UUID: a new first group
            made.append(f"{(i * 2654435761 + 1) % (1 << 32):08x}{model[8:]}")
        else:
            made.append(str((int(model) * 7919 + i + 1) % (10 ** 19)))
    return real + made


def open_hours(source: Path, ids: list[str], start: datetime) -> np.ndarray:
    """Per store, 168 booleans: open in each UTC hour of the week that begins at ``start``
    (an hour counts as open if its middle is within business hours; the zone's offset at
    ``start`` for the whole week)."""
    spans: dict[str, list[tuple[int, float, float]]] = {}
    with open(source / "menu_hours.csv", newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        day_column = "dayOfWeek" if "dayOfWeek" in (reader.fieldnames or []) else "day"
        for row in reader:
            begin, end = (_hours_of(row[c]) for c in ("start_time_local", "end_time_local"))
            spans.setdefault(row["store_id"].strip(), []).append((int(row[day_column]), begin, end))
    with open(source / "timezones.csv", newline="", encoding="utf-8-sig") as f:
        zones = {row["store_id"].strip(): row["timezone_str"].strip() for row in csv.DictReader(f)}
    offsets: dict[str, float] = {}
    local_week = np.arange(HOURS_A_WEEK) + 0.5  # middle of each local hour from Monday 00:00
    mask = np.ones((len(ids), HOURS_A_WEEK), bool)
    start_hour = start.weekday() * 24 + start.hour  # of the week, UTC
    for i, store in enumerate(ids):
        if store not in spans:
            continue  # no hours: open around the clock
        name = zones.get(store, "America/Chicago")
        if name not in offsets:
            try:
                offsets[name] = start.astimezone(ZoneInfo(name)).utcoffset() / timedelta(hours=1)
            except (ZoneInfoNotFoundError, ValueError):
                offsets[name] = -6.0
        local = np.zeros(HOURS_A_WEEK, bool)
        for day, begin, end in spans[store]:
            end = 24.0 if end >= 23 + 59 / 60 else end
            local |= (local_week >= day * 24 + begin) & (local_week < day * 24 + (end if end > begin else 24))
            if end < begin:  # past midnight
                local |= (local_week >= (day + 1) % 7 * 24) & (local_week < (day + 1) % 7 * 24 + end)
        # UTC hour h of our week is local hour h + offset (from Monday 00:00 local)
        shift = int(np.floor(start_hour + offsets[name])) % HOURS_A_WEEK
        mask[i] = np.roll(local, -shift)
    return mask


def _hours_of(clock: str) -> float:
    parts = [int(p) for p in clock.strip().split(":")]
    return parts[0] + parts[1] / 60 + (parts[2] if len(parts) > 2 else 0) / 3600


def write(source: Path, out: Path, start: datetime, days: float, scale: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    ids = store_ids(source, scale)
    n = len(ids)
    is_open = open_hours(source, ids, start)
    missing = rng.beta(2, 4, n) * 0.75  # chance a sweep misses the store: a quarter on average
    breaks = rng.beta(1.2, 30, n)  # chance an up store is down an hour later
    mends = rng.beta(3, 4, n)  # chance a down store is up an hour later
    up = rng.random(n) >= 0.03  # 3 % are down all along
    never = ~up
    written = 0
    with open(out, "w", newline="") as f:
        f.write("store_id,status,timestamp_utc\n")
        for hour in range(int(days * 24)):
            up = np.where(up, rng.random(n) >= breaks, rng.random(n) < mends) & ~never
            polled = np.flatnonzero(rng.random(n) >= missing)
            opened = is_open[polled, hour % HOURS_A_WEEK]
            active = up[polled] & (opened | (rng.random(polled.size) < 0.2))  # closed: mostly inactive
            seconds = rng.gamma(2.0, 180.0, polled.size) + rng.random(polled.size)
            order = rng.permutation(polled.size)
            base = start + timedelta(hours=hour)
            stamps = (np.datetime64(base.replace(tzinfo=None), "us")
                      + (seconds[order] * 1e6).astype("timedelta64[us]"))
            text = np.datetime_as_string(stamps, unit="us")
            status = np.where(active[order], "active", "inactive")
            f.writelines(f"{ids[s]},{a},{t.replace('T', ' ')} UTC\n"
                         for s, a, t in zip(polled[order].tolist(), status.tolist(), text.tolist()))
            written += polled.size
    return written


REGIONS, BRANDS = ("west", "central", "east", "south"), ("acme", "bolt", "crust")


def write_directory(ids: list[str], out: Path, seed: int) -> None:
    """stores.csv: ``store_id,name,groups`` for these stores, seeded."""
    rng = np.random.default_rng(seed)
    region, brand, franchisee = rng.integers(0, 4, len(ids)), rng.integers(0, 3, len(ids)), rng.integers(1, 400, len(ids))
    with open(out, "w", newline="") as f:
        f.write("store_id,name,groups\n")
        f.writelines(f"{s},{BRANDS[b].title()} #{k + 1},region:{REGIONS[r]};brand:{BRANDS[b]};franchisee:{n}\n"
                     for k, (s, r, b, n) in enumerate(zip(ids, region.tolist(), brand.tolist(), franchisee.tolist())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--start", default="2023-01-18")
    parser.add_argument("--days", type=float, default=7.75)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stores", type=Path, help="also write a store directory (stores.csv) here")
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    count = write(args.source_dir, args.out, start, args.days, args.scale, args.seed)
    print(f"wrote {count} polls for {len(store_ids(args.source_dir, args.scale))} stores over "
          f"{int(args.days * 24)} h to {args.out}")
    if args.stores is not None:
        write_directory(store_ids(args.source_dir, args.scale), args.stores, args.seed)
        print(f"wrote their directory to {args.stores}")


if __name__ == "__main__":
    main()
