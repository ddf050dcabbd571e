"""A Databricks workspace's Jobs REST API on 127.0.0.1, as far as the
installed provider (apache-airflow-providers-databricks) uses it to run a job.

The paths and payloads are the hook's (hooks/databricks.py, 7.20.0):

- ``POST /api/2.2/jobs/run-now``: a JSON body with ``job_id`` (the operator
  sends it as a string: ``normalise_json_content``), ``job_parameters``,
  ``idempotency_token``; answers ``{"run_id", "number_in_job"}``. A second
  request with a token already used for the job answers the same run, as
  Databricks does; a token over 64 characters, or an unknown job, answers
  400 INVALID_PARAMETER_VALUE.
- ``GET /api/2.2/jobs/runs/get``: the run id in the query string (the
  operator's requests calls) or in a JSON body (the trigger's aiohttp calls
  send ``json=`` even on a GET); answers the run: ``job_id``, ``run_id``,
  ``run_page_url``, ``state`` (``life_cycle_state``, and once terminated
  ``result_state`` and ``state_message``), ``job_parameters``, ``tasks``.
- ``GET /api/2.2/jobs/runs/get-output``: the provider asks it for each failed
  task of a failed run (``extract_failed_task_errors``); answers its ``error``.

Every request must carry ``Authorization: Bearer <token>`` (the hook's token
auth); anything else answers 401. Every request is recorded, with the caller
the hook names in its User-Agent (``operator/DatabricksRunNowOperator`` or
``operator/DatabricksExecutionTrigger``) and the state a runs/get answered.

A job's scenario: its runs answer RUNNING to the first ``running_reads``
runs/get requests, then TERMINATED with ``result`` (SUCCESS or FAILED, with
``state_message`` and one failed task whose output holds ``task_error``).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RUN_NOW = "/api/2.2/jobs/run-now"
RUNS_GET = "/api/2.2/jobs/runs/get"
RUNS_GET_OUTPUT = "/api/2.2/jobs/runs/get-output"


@dataclass(frozen=True)
class Job:
    job_id: int
    result: str = "SUCCESS"
    running_reads: int = 0
    state_message: str = ""
    task_error: str = ""


@dataclass
class Run:
    job: Job
    run_id: int
    job_parameters: dict[str, str]
    idempotency_token: str | None
    reads: int = 0
    task_run_id: int = 0

    def state(self) -> dict[str, str]:
        if self.reads <= self.job.running_reads:
            return {"life_cycle_state": "RUNNING", "state_message": "In run"}
        return {"life_cycle_state": "TERMINATED", "result_state": self.job.result,
                "state_message": self.job.state_message}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    caller: str
    """The operator/trigger the hook names in its User-Agent (``operator/<caller>``)."""
    authorized: bool
    answered_state: str | None = None
    """For runs/get: the life cycle state answered."""


@dataclass
class DatabricksFake:
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    jobs: dict[int, Job] = field(default_factory=dict)
    runs: dict[int, Run] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_job(self, job: Job) -> Job:
        self.jobs[job.job_id] = job
        return job

    def runs_of(self, job_id: int) -> list[Run]:
        return [r for r in self.runs.values() if r.job.job_id == job_id]

    def requests_for(self, run_id: int) -> list[Request]:
        """The runs/get requests about one run, in order."""
        return [r for r in self.requests if r.path == RUNS_GET and str(self._run_id(r)) == str(run_id)]

    @staticmethod
    def _run_id(request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        return request.query.get("run_id", body.get("run_id"))

    # ------------------------------------------------------------ the API

    def handle(self, method: str, path: str, query: dict[str, str], body: Any, headers: Any) -> tuple[int, dict]:
        agent = headers.get("User-Agent", "")
        caller = agent.rsplit("operator/", 1)[-1] if "operator/" in agent else ""
        authorized = headers.get("Authorization") == f"Bearer {self.token}"
        with self._lock:
            record = Request(method, path, query, body, caller, authorized)
            if not authorized:
                self.requests.append(record)
                return 401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}
            status, answer = self._route(method, path, query, body if isinstance(body, dict) else {})
            state = answer.get("state", {}).get("life_cycle_state") if path == RUNS_GET else None
            self.requests.append(Request(method, path, query, body, caller, authorized, state))
            return status, answer

    def _route(self, method: str, path: str, query: dict[str, str], body: dict) -> tuple[int, dict]:
        if (method, path) == ("POST", RUN_NOW):
            return self._run_now(body)
        if (method, path) == ("GET", RUNS_GET):
            return self._runs_get(query.get("run_id", body.get("run_id")))
        if (method, path) == ("GET", RUNS_GET_OUTPUT):
            return self._runs_get_output(query.get("run_id", body.get("run_id")))
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for '{method} {path}'"}

    def _run_now(self, body: dict) -> tuple[int, dict]:
        job = self.jobs.get(_int(body.get("job_id")))
        if job is None:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": f"Job {body.get('job_id')} does not exist."}
        token = body.get("idempotency_token")
        if token is not None and len(str(token)) > 64:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": "idempotency_token must be at most 64 characters."}
        for run in self.runs_of(job.job_id):
            if token and run.idempotency_token == token:
                return 200, {"run_id": run.run_id, "number_in_job": run.run_id}
        run_id = 1000 + 2 * len(self.runs)
        run = Run(job, run_id, dict(body.get("job_parameters") or {}), token, task_run_id=run_id + 1)
        self.runs[run_id] = run
        return 200, {"run_id": run_id, "number_in_job": run_id}

    def _find(self, run_id: Any) -> Run | None:
        number = _int(run_id)
        return next((r for r in self.runs.values() if number in (r.run_id, r.task_run_id)), None)

    def _runs_get(self, run_id: Any) -> tuple[int, dict]:
        run = self._find(run_id)
        if run is None:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Run {run_id} does not exist."}
        run.reads += 1
        state = run.state()
        task_state = dict(state, state_message="") if state.get("result_state") != "FAILED" else state
        return 200, {
            "job_id": run.job.job_id, "run_id": run.run_id, "number_in_job": run.run_id,
            "run_page_url": f"http://{self.host}:{self.port}/#job/{run.job.job_id}/run/{run.run_id}",
            "state": state,
            "job_parameters": [{"name": k, "value": v} for k, v in sorted(run.job_parameters.items())],
            "tasks": [{"run_id": run.task_run_id, "task_key": "gold", "attempt_number": 0,
                       "start_time": 1, "state": task_state}],
        }

    def _runs_get_output(self, run_id: Any) -> tuple[int, dict]:
        run = self._find(run_id)
        if run is None or _int(run_id) != run.task_run_id:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": f"Retrieving the output of run {run_id} is not supported: "
                                    "it is a job run, not a task run."}
        answer: dict[str, Any] = {"metadata": {"run_id": run.task_run_id, "job_id": run.job.job_id}}
        if run.state().get("result_state") == "FAILED":
            answer["error"] = run.job.task_error
        return 200, answer


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: DatabricksFake

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        status, answer = self.fake.handle(method, url.path, dict(parse_qsl(url.query)), body, self.headers)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - the base class's name
        self._answer("GET")

    def do_POST(self):  # noqa: N802 - the base class's name
        self._answer("POST")

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextmanager
def databricks_fake(token: str) -> Iterator[DatabricksFake]:
    """The fake, listening on 127.0.0.1 on a free port, until the block ends."""
    fake = DatabricksFake(token)
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
