"""Reading a submission: core Problem JSON, or an uploaded CSV bundle / .xlsx / plant JSON,
as a job (``POST /v1/jobs``) or as the live plant (``PUT /v1/plant``).

Every failure becomes FastAPI's 422 shape, each item naming where the problem is
(``loc``) and what it is (``msg``), never a 500.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.isolate import Exceeded
from api.schemas import JobCreate, JobOptions
from api.service import Service
from api.uploads import Caps, Compiled, compile_files, unpacked_size
from aps import Problem
from jobs.notify import RefusedAddress, check_credentials, check_public
from jobs.plant.options import PlantOptions
from jobs.settings import Settings

UPLOAD_SUFFIXES = (".csv", ".zip", ".xlsx", ".xlsm", ".json")


def _errors(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Pydantic errors without the (possibly huge) input, with the body prefix."""
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


#: Multipart limits: a bundle is a handful of CSV files, the options one field.
MAX_UPLOAD_FILES = 50
MAX_UPLOAD_FIELDS = 10


#: The multipart upload form, as POST /v1/jobs and PUT /v1/plant document it.
UPLOAD_FORM: dict[str, Any] = {
    "schema": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "description": "A CSV bundle (.zip, or several .csv tables), an "
                ".xlsx workbook, or plant/problem JSON.",
            },
            "options": {
                "type": "string",
                "description": "JobOptions as a JSON string.",
                "example": '{"time_limit": 10}',
            },
        },
    }
}


def invalid(loc: list[str | int], msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": msg, "type": kind}])


@dataclass(frozen=True)
class Submission:
    """A job to store: its problem as JSON (validated, or compiled in a child process)
    and what the limits are checked on."""

    problem_json: str
    name: str
    num_operations: int
    horizon: int | None
    options: JobOptions


#: Bodies larger than this are parsed in a worker thread, not on the event loop.
LARGE_BODY = 64 * 1024


async def read_submission(request: Request, service: Service) -> Submission:
    """Parse the body by content type: JSON ``JobCreate`` or multipart upload."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _read_upload(request, service)
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported content type {content_type!r}: send application/json (a job with "
            "the problem) or multipart/form-data (a bundle upload)",
        )
    body = await request.body()
    check_json_text(body, ["body"])
    if len(body) > LARGE_BODY:
        return await run_in_threadpool(_job_json, body)
    return _job_json(body)


def _job_json(body: bytes) -> Submission:
    try:
        job = JobCreate.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(_errors(exc, ("body",))) from None
    problem = job.problem
    return Submission(
        problem.model_dump_json(exclude_defaults=True),
        problem.name,
        problem.num_operations,
        problem.horizon,
        job.options,
    )


async def _read_upload(request: Request, service: Service) -> Submission:
    try:
        form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FIELDS)
    except StarletteHTTPException as exc:  # Starlette's 400 for too many parts or a broken body
        raise invalid(["body"], f"unreadable multipart body: {exc.detail}", "multipart") from None
    uploads = [v for k in ("file", "files") for v in form.getlist(k) if isinstance(v, UploadFile)]
    if not uploads:
        raise invalid(
            ["body", "file"],
            "upload a CSV bundle (.zip or several .csv), an .xlsx "
            "workbook or a plant/problem .json in the 'file' field",
            "missing",
        )
    files: list[tuple[str, bytes]] = []
    for upload in uploads:
        name = Path(upload.filename or "").name
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            raise invalid(
                ["body", "file", name or "?"],
                f"unsupported file type; use one of {', '.join(UPLOAD_SUFFIXES)}",
            )
        files.append((name, await upload.read()))
    raw_options = form.get("options")
    options = JobOptions()
    if isinstance(raw_options, str) and raw_options.strip():
        check_json_text(raw_options, ["body", "options"])
        try:
            options = JobOptions.model_validate_json(raw_options, strict=True)
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc, ("body", "options"))) from None
    compiled = await compile_upload(service, files)
    return Submission(
        compiled.problem_json,
        compiled.name,
        compiled.num_operations,
        compiled.horizon,
        options,
    )


def check_unpacked(files: list[tuple[str, bytes]], settings: Settings) -> None:
    """413 for an archive that unpacks to more than ``APS_MAX_UNPACKED_BYTES`` (read from
    its directory; nothing is extracted)."""
    total = 0
    for name, data in files:
        size = unpacked_size(name, data)
        total += len(data) if size is None else size
    if total > settings.max_unpacked_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the upload unpacks to {total} bytes; the limit is {settings.max_unpacked_bytes} "
            "bytes (APS_MAX_UNPACKED_BYTES)",
        )


async def compile_upload(service: Service, files: list[tuple[str, bytes]]) -> Compiled:
    """Compile uploaded files in a child process under the server's caps; 413 or 422
    naming the limit and its setting when one is exceeded."""
    settings = service.settings
    check_unpacked(files, settings)
    caps = Caps(settings.max_operations, settings.max_horizon_ticks)
    try:
        status_, value = await run_in_threadpool(service.compiler.run, compile_files, files, caps)
    except Exceeded as exc:
        if exc.what == "shutdown":
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the server is stopping; send it again"
            ) from None
        limit = {
            "cpu": f"{settings.compile_cpu_seconds:g} s of CPU (APS_COMPILE_CPU_SECONDS)",
            "memory": f"{settings.compile_memory_bytes} bytes of memory (APS_COMPILE_MEMORY_BYTES)",
        }.get(exc.what, "its process (it crashed)")
        raise invalid(
            ["body", "file"], f"compiling the upload exceeded {limit}", "limit_exceeded"
        ) from None
    if status_ == "ok":
        compiled: Compiled = value
        return compiled
    raise RequestValidationError(value)


def check_limits(job: Submission, settings: Settings) -> None:
    """Operations per job, horizon, time limit and solver workers against the maxima."""
    if job.horizon is not None and job.horizon > settings.max_horizon_ticks:
        raise invalid(
            ["body", "problem", "horizon"],
            f"the horizon spans {job.horizon} ticks; the limit is "
            f"{settings.max_horizon_ticks} (APS_MAX_HORIZON_TICKS)",
            "limit_exceeded",
        )
    if job.num_operations > settings.max_operations:
        raise invalid(
            ["body", "problem"],
            f"the problem has {job.num_operations} operations; the limit is "
            f"{settings.max_operations} per job (APS_MAX_OPERATIONS)",
            "limit_exceeded",
        )
    if job.options.time_limit > settings.max_time_limit:
        raise invalid(
            ["body", "options", "time_limit"],
            f"time_limit {job.options.time_limit:g} s exceeds the limit of "
            f"{settings.max_time_limit:g} s (APS_MAX_TIME_LIMIT)",
            "limit_exceeded",
        )
    if job.options.workers > settings.max_solver_workers:
        raise invalid(
            ["body", "options", "workers"],
            f"workers {job.options.workers} exceeds the limit of "
            f"{settings.max_solver_workers} (APS_MAX_SOLVER_WORKERS)",
            "limit_exceeded",
        )


def check_callback_url(url: str, settings: Settings, loc: list[str | int]) -> None:
    """Refuse callback URLs with credentials, or that resolve to loopback, private or
    link-local hosts, also after NAT64/6to4/Teredo translation (SSRF)."""
    try:
        check_credentials(url)
    except RefusedAddress as exc:
        raise invalid(loc, f"{exc}; refused") from None
    if settings.allow_private_callbacks:
        return
    try:
        check_public(url)
    except RefusedAddress as exc:
        raise invalid(loc, f"{exc}; refused (SSRF protection)") from None


def check_callback(url: str, settings: Settings) -> None:
    """:func:`check_callback_url` for a job's ``options.callback_url``."""
    check_callback_url(url, settings, ["body", "options", "callback_url"])


# -- values JSON has no place for ------------------------------------------------------------


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` as a body wrote it (not JSON)."""


NOT_FINITE = "must be a finite number: NaN and Infinity are not JSON numbers"
NUL = "must not contain U+0000 (NUL): the job store cannot keep it"


def bad_value(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
    """The first non-finite number or string with U+0000 in a parsed JSON value."""
    if isinstance(value, _Constant) or (isinstance(value, float) and not math.isfinite(value)):
        return path, NOT_FINITE
    if isinstance(value, str):
        return (path, NUL) if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*path, key], NUL
            found = bad_value(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = bad_value(item, [*path, i])
            if found is not None:
                return found
    return None


def check_json_text(raw: bytes | str, prefix: list[str | int]) -> None:
    """A 422 naming the field when a JSON body holds NaN/Infinity or U+0000.

    Python's JSON reader takes ``NaN`` and ``Infinity``, and PostgreSQL refuses U+0000 in
    text and JSONB (a 500 from the driver): both are refused at the door. A byte scan
    decides first, so ordinary bodies are not parsed twice.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if b"\\u0000" not in data and b"NaN" not in data and b"Infinity" not in data:
        return
    try:
        value = json.loads(data, parse_constant=_Constant)
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: the parser's own 422 names the place
    found = bad_value(value, prefix)
    if found is not None:
        raise invalid(found[0], found[1], "value_error")


def json_safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors fit for a JSON answer: a non-finite input (which the JSON encoder
    refuses, a 500) is shown as text, with a message that says what is wrong."""

    def safe(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, dict):
            return {str(k): safe(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [safe(v) for v in value]
        return value

    out = []
    for error in errors:
        item = dict(error)
        given = item.get("input")
        if isinstance(given, float) and not math.isfinite(given):
            item["msg"], item["type"] = NOT_FINITE, "finite_number"
        out.append(safe(item))
    return out


# -- the live plant -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantSubmission:
    """A plant to load: its problem, the plant JSON it came from, its options."""

    problem: Problem
    #: the plant JSON document (None: given as a tick-level problem)
    source: dict[str, Any] | None
    options: PlantOptions


async def read_plant_submission(request: Request, service: Service) -> PlantSubmission:
    """Plant JSON, tick-level Problem JSON, ``{"plant"|"problem": ..., "options": ...}``
    or the multipart upload ``POST /v1/jobs`` accepts."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        job = await read_submission(request, service)
        opts = job.options
        try:
            options = PlantOptions(time_limit=opts.time_limit, workers=opts.workers, seed=opts.seed)
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc, ("body", "options"))) from None
        problem = await run_in_threadpool(Problem.model_validate_json, job.problem_json)
        return PlantSubmission(problem, None, options)
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported content type {content_type!r}: send application/json or "
            "multipart/form-data",
        )
    raw = await request.body()
    check_json_text(raw, ["body"])
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(["body"], f"invalid JSON: {exc}", "json_invalid") from None
    if not isinstance(data, dict):
        raise invalid(["body"], "expected a JSON object: plant JSON or Problem JSON")
    return await _plant_json(data, service)


async def _plant_json(data: dict[str, Any], service: Service) -> PlantSubmission:
    """A JSON plant: the document, bare or wrapped with its options."""
    prefix: tuple[str | int, ...] = ("body",)
    options = PlantOptions()
    document: Any = data
    wrapped = [k for k in ("plant", "problem") if k in data]
    if wrapped and ("options" in data or len(data) == 1):
        extra = set(data) - {wrapped[0], "options"}
        if extra or len(wrapped) > 1:
            raise invalid(["body", sorted(extra or {"problem"})[0]], "unexpected field")
        try:
            options = PlantOptions.model_validate_json(
                json.dumps(data.get("options") or {}), strict=True
            )
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc, ("body", "options"))) from None
        document = data[wrapped[0]]
        prefix = ("body", wrapped[0])
    if isinstance(document, dict) and "orders" in document and "jobs" not in document:
        raw = json.dumps(document).encode()
        compiled = await compile_upload(service, [("plant.json", raw)])
        problem = await run_in_threadpool(Problem.model_validate_json, compiled.problem_json)
        return PlantSubmission(problem, document, options)
    try:
        # JSON types as the schema states them (strict): `true` is not a duration of 1
        problem = Problem.model_validate_json(json.dumps(document), strict=True)
    except ValidationError as exc:
        raise RequestValidationError(_errors(exc, prefix)) from None
    return PlantSubmission(problem, None, options)


def check_plant_limits(plant: PlantSubmission, settings: Settings) -> None:
    """Operations, horizon, time limits and solver workers against the server's maxima."""
    horizon = plant.problem.horizon
    if horizon is not None and horizon > settings.max_horizon_ticks:
        raise invalid(
            ["body", "horizon"],
            f"the horizon spans {horizon} ticks; the limit is {settings.max_horizon_ticks} "
            "(APS_MAX_HORIZON_TICKS)",
            "limit_exceeded",
        )
    if plant.problem.num_operations > settings.max_operations:
        raise invalid(
            ["body"],
            f"the plant has {plant.problem.num_operations} operations; the limit is "
            f"{settings.max_operations} (APS_MAX_OPERATIONS)",
            "limit_exceeded",
        )
    for field in ("time_limit", "reschedule_time_limit"):
        if getattr(plant.options, field) > settings.max_time_limit:
            raise invalid(
                ["body", "options", field],
                f"exceeds the limit of {settings.max_time_limit:g} s (APS_MAX_TIME_LIMIT)",
                "limit_exceeded",
            )
    if plant.options.workers > settings.max_solver_workers:
        raise invalid(
            ["body", "options", "workers"],
            f"exceeds the limit of {settings.max_solver_workers} (APS_MAX_SOLVER_WORKERS)",
            "limit_exceeded",
        )
