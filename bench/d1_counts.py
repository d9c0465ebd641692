"""What D1 does for one request of each kind, from the worker's own request log lines.

    python3 bench/d1_counts.py > d1-counts.json

Run inside scripts/with-server.sh (BASE_URL, WORKER_LOG, FIRST_SUPERUSER, FIRST_SUPERUSER_PASSWORD). Sends
each request once with its own `cf-ray`, then reads the worker's log line for it: round
trips, statements, rows read and written, summed by the worker from D1's `meta`. Prints a
JSON list of [label, round_trips, statements, rows_read, rows_written].
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BASE = os.environ["BASE_URL"]
LOG = os.environ["WORKER_LOG"]


def call(method, path, *, json_body=None, form=None, token=None, ray=None):
    headers = {"cf-ray": ray} if ray else {}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["content-type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    return json.loads(body) if body else None


rays = []


def measured(label, method, path, **kwargs):
    ray = f"bench-{uuid.uuid4()}"
    rays.append((label, ray))
    return call(method, path, ray=ray, **kwargs)


password = f"bench {uuid.uuid4()}"
email = f"bench-{uuid.uuid4()}@example.com"
measured("POST /api/v1/auth/signup", "POST", "/api/v1/auth/signup",
         json_body={"email": email, "password": password})
measured("POST /api/v1/auth/login, wrong password", "POST", "/api/v1/auth/login",
         form={"username": email, "password": "not the password"})
pair = measured("POST /api/v1/auth/login, success", "POST", "/api/v1/auth/login",
                form={"username": email, "password": password})
token = pair["access_token"]
recipe = measured("POST /api/v1/recipes/", "POST", "/api/v1/recipes/", token=token,
                  json_body={"label": "Bench soup", "source": "Gran", "url": "https://example.com/s"})
measured("GET /api/v1/recipes/{id}", "GET", f"/api/v1/recipes/{recipe['id']}")
measured("GET /api/v1/recipes/search/?keyword=chicken", "GET",
         "/api/v1/recipes/search/?keyword=chicken")
measured("GET /api/v1/auth/me", "GET", "/api/v1/auth/me", token=token)
measured("GET /api/v1/recipes/my-recipes", "GET", "/api/v1/recipes/my-recipes", token=token)
measured("PUT /api/v1/recipes/", "PUT", "/api/v1/recipes/", token=token,
         json_body={"id": recipe["id"], "label": "Bench stew"})
measured("DELETE /api/v1/recipes/{id}", "DELETE", f"/api/v1/recipes/{recipe['id']}", token=token)
renewed = measured("POST /api/v1/auth/refresh", "POST", "/api/v1/auth/refresh",
                   json_body={"refresh_token": pair["refresh_token"]})
measured("POST /api/v1/auth/logout", "POST", "/api/v1/auth/logout",
         json_body={"refresh_token": renewed["refresh_token"]})
second = call("POST", "/api/v1/auth/login", form={"username": email, "password": password})
measured("POST /api/v1/auth/password", "POST", "/api/v1/auth/password",
         token=second["access_token"],
         json_body={"current_password": password, "new_password": f"{password} again"})
admin = call("POST", "/api/v1/auth/login", form={
    "username": os.environ["FIRST_SUPERUSER"],
    "password": os.environ["FIRST_SUPERUSER_PASSWORD"]})
measured("GET /api/v1/users/", "GET", "/api/v1/users/", token=admin["access_token"])


def logged():
    lines = {}
    with open(LOG, encoding="utf-8", errors="replace") as log:
        for raw in log:
            start = raw.find("{")
            if start < 0:
                continue
            try:
                value = json.loads(raw[start:])
            except ValueError:
                continue
            if isinstance(value, dict) and value.get("log") == "request" and value.get("cf_ray"):
                lines[value["cf_ray"]] = value
    return lines


for _ in range(50):
    lines = logged()
    if all(ray in lines for _, ray in rays):
        break
    time.sleep(0.1)
else:
    sys.exit(f"d1_counts: no log line for {[label for label, ray in rays if ray not in lines]}")

print(json.dumps([
    [label, line["d1_round_trips"], line["d1_statements"], line["d1_rows_read"],
     line["d1_rows_written"]]
    for label, ray in rays
    for line in [lines[ray]]
]))
