"""Search at scale: search latency through wrangler dev and the rows D1 reads per search, at
seed size and again after loading many more recipes into the same local D1. Run by
bench/scale.sh with a server of its own (scripts/with-server.sh); writes one JSON file for
bench/scale_report.py.

    python3 bench/scale.py BASE_URL PERSIST_DIR DATABASE_ID OUT_JSON

Knobs: BENCH_SCALE_ROWS (recipes to add, default 200000), BENCH_SCALE_REQUESTS (timed
searches per keyword and size, default 200).

Latency: sequential GETs on one keep-alive connection (concurrency 1), the keywords taking
turns so that drift in the machine's load touches them alike; the median of one run.
Rows read: D1's own count (meta.rows_read) for the worker's search, from the worker's request
log line (WORKER_LOG, found by its cf-ray), next to that of the full scan that search used
before the index, run through miniflare (bench/d1-meta.mjs).

The extra recipes are written with Python's sqlite3 straight into the local D1's file (WAL
mode, SQLite's own locking, so the running server reads them on its next statement); the
index's triggers fire for each row, as they would for rows inserted through the API.
"""
import http.client
import json
import os
import pathlib
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

base_url, persist, database_id, out_file = sys.argv[1:5]
root = pathlib.Path(__file__).resolve().parent.parent
extra_rows = int(os.environ.get("BENCH_SCALE_ROWS", "200000"))
requests = int(os.environ.get("BENCH_SCALE_REQUESTS", "200"))
MAX_RESULTS = 10  # the API's default

# (name, keyword, as the report shows it, what it shows). Of the generated labels below none
# holds "paprikash", all hold "recipe", none "recipe recipe", whose trigrams are all common:
# most in every label. "long" is the same at the longest keyword the API takes.
LONG = ("Recipe " * 37)[:256]
KEYWORDS = [
    ("rare", "paprikash", '"paprikash"', "one seed recipe matches"),
    ("common", "recipe", '"recipe"', "every added recipe matches (and 1 of the 3 seed ones)"),
    ("costly", "recipe recipe", '"recipe recipe"', "nothing matches, yet every trigram of it is common"),
    ("long", LONG, '"Recipe Reci…"', f'the costly one at {len(LONG)} characters, "Recipe " repeated'),
]

# The statement search ran before the index (a full scan), for rows read only.
SCAN_SQL = ("SELECT id, label, source, url, submitter_id FROM recipes "
            "WHERE instr(lower(label), lower(?1)) > 0 ORDER BY id LIMIT ?2")


def database_file():
    """The local D1's SQLite file: the one under PERSIST_DIR holding a `recipes` table."""
    for path in sorted(pathlib.Path(persist, "v3", "d1").glob("*/*.sqlite")):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'recipes'").fetchone():
                return path
    sys.exit(f"bench: no D1 database with a recipes table under {persist}")


def timings():
    """p50 (and p90) ms of each keyword's search, sequential, the keywords taking turns."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    samples = {name: [] for name, *_ in KEYWORDS}
    answers = {}
    for round_ in range(20 + requests):  # the first 20 rounds warm up
        for name, keyword, *_ in KEYWORDS:
            path = search_path(keyword)
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - start) * 1e3
            if response.status != 200:
                sys.exit(f"bench: search for {keyword!r} answered {response.status}: {body[:200]!r}")
            if round_ >= 20:
                samples[name].append(elapsed)
            answers[name] = [r["id"] for r in json.loads(body)["results"]]
    connection.close()
    quantile = lambda xs, q: statistics.quantiles(xs, n=10)[q - 1]
    return {name: {"p50_ms": statistics.median(xs), "p90_ms": quantile(xs, 9), "n": len(xs)}
            for name, xs in samples.items()}, answers


def search_path(keyword):
    return "/api/v1/recipes/search/?" + urllib.parse.urlencode({"keyword": keyword})


def logged_requests():
    """The worker's request log lines in WORKER_LOG, by cf-ray."""
    lines = {}
    with open(os.environ["WORKER_LOG"], encoding="utf-8", errors="replace") as log:
        for raw in log:
            start = raw.find("{")
            try:
                value = json.loads(raw[start:]) if start >= 0 else None
            except ValueError:
                continue
            if isinstance(value, dict) and value.get("log") == "request" and value.get("cf_ray"):
                lines[value["cf_ray"]] = value
    return lines


def worker_rows_read():
    """meta.rows_read summed by the worker for one search of each keyword (its log line)."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    rays = {}
    for name, keyword, *_ in KEYWORDS:
        rays[name] = f"bench-{uuid.uuid4()}"
        connection.request("GET", search_path(keyword), headers={"cf-ray": rays[name]})
        connection.getresponse().read()
    connection.close()
    for _ in range(50):
        lines = logged_requests()
        if all(ray in lines for ray in rays.values()):
            return {name: lines[ray]["d1_rows_read"] for name, ray in rays.items()}
        time.sleep(0.1)
    sys.exit("bench: no request log line for a search (WORKER_LOG)")


def scan_rows_read():
    """meta.rows_read of the scan search ran before the index, through miniflare."""
    statements = [{"sql": SCAN_SQL, "params": [keyword, MAX_RESULTS]} for _, keyword, *_ in KEYWORDS]
    output = subprocess.run(["node", str(root / "bench/d1-meta.mjs"), persist, database_id,
                             json.dumps(statements)], check=True, capture_output=True, text=True,
                            cwd=root).stdout
    metas = json.loads(output.strip().splitlines()[-1])
    # meta.duration is left out: workerd's clock does not advance while a statement runs.
    return {name: meta["meta"]["rows_read"] for (name, *_), meta in zip(KEYWORDS, metas)}


def measure(db_file):
    latency, answers = timings()
    rows_read, scan_read = worker_rows_read(), scan_rows_read()
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as con:
        recipes = con.execute("SELECT count(*) FROM recipes").fetchone()[0]
        result = {"recipes": recipes, "keywords": {}}
        for name, keyword, shown, what in KEYWORDS:
            # The reference: the old scan, run by this process's own SQLite on the same file.
            matches = con.execute("SELECT count(*) FROM recipes WHERE instr(lower(label), lower(?)) > 0",
                                  (keyword,)).fetchone()[0]
            expected = [row[0] for row in con.execute(SCAN_SQL, (keyword, MAX_RESULTS))]
            result["keywords"][name] = {
                "keyword": keyword, "shown": shown, "what": what, "matches": matches,
                "same_as_scan": answers[name] == expected, **latency[name],
                "rows_read": rows_read[name], "scan_rows_read": scan_read[name]}
    return result


STYLES = ["Smoky", "Spicy", "Creamy", "Crispy", "Slow-Cooked", "Grilled", "Roasted", "Braised",
          "Pan-Fried", "Baked", "Lemony", "Garlicky", "Sticky", "Herbed", "Golden", "Rustic",
          "Classic", "Easy", "Weeknight", "Sunday"]
MAINS = ["Chicken", "Beef", "Pork", "Lamb", "Salmon", "Cod", "Shrimp", "Tofu", "Chickpea",
         "Lentil", "Mushroom", "Aubergine", "Cauliflower", "Potato", "Sweet Potato", "Squash",
         "Spinach", "Tomato", "Pepper", "Courgette", "Turkey", "Duck", "Halibut", "Tempeh",
         "Black Bean"]
DISHES = ["Curry", "Stew", "Soup", "Salad", "Pie", "Tacos", "Risotto", "Pasta", "Bake",
          "Traybake", "Skewers", "Burgers", "Noodles", "Fried Rice", "Casserole", "Chili",
          "Tagine", "Gratin", "Frittata", "Sandwich"]
SIDES = ["Rice", "Greens", "Herbs", "Yogurt", "Slaw", "Flatbread", "Salsa", "Pesto",
         "Gremolata", "Pickles"]


def load(db_file):
    """Adds extra_rows generated recipes, in transactions of 20 000 rows; returns seconds."""
    rng = random.Random(20260101)
    start = time.perf_counter()
    con = sqlite3.connect(db_file, timeout=60)
    try:
        submitter = con.execute("SELECT min(id) FROM users").fetchone()[0]
        done = 0
        while done < extra_rows:
            batch = min(20_000, extra_rows - done)
            rows = []
            for i in range(done, done + batch):
                side = f" with {rng.choice(SIDES)}" if rng.random() < 0.5 else ""
                label = f"{rng.choice(STYLES)} {rng.choice(MAINS)} {rng.choice(DISHES)}{side} Recipe No. {i + 1}"
                rows.append((label, "Bench", f"https://example.com/recipes/{i + 1}", submitter))
            with con:
                con.executemany("INSERT INTO recipes (label, source, url, submitter_id) VALUES (?, ?, ?, ?)", rows)
            done += batch
    finally:
        con.close()
    return time.perf_counter() - start


db_file = database_file()
cap = re.search(r"pub const SEARCH_CANDIDATES: u32 = (\d+);", (root / "src/store/recipes.rs").read_text())
report = {"extra_rows": extra_rows, "requests": requests, "max_results": MAX_RESULTS,
          "search_candidates": int(cap.group(1)) if cap else None}
print("bench: search at seed size", file=sys.stderr)
report["seed"] = measure(db_file)
print(f"bench: loading {extra_rows} recipes into the local D1", file=sys.stderr)
report["load_seconds"] = load(db_file)
print(f"bench: search with {extra_rows} more recipes", file=sys.stderr)
report["scaled"] = measure(db_file)
pathlib.Path(out_file).write_text(json.dumps(report, indent=1))
