"""Test-only routes under /test/, installed only by `serve --test-hooks`: move the clock and
inject faults into the next responses of the kiosk API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field

from backend_client.wire import API_PREFIX, ErrorCode
from central.responses import error_response
from central.service import Central

TEST_PREFIX = "/test"


class ClockAdvance(BaseModel):
    seconds: float = Field(ge=0, le=10 * 365 * 24 * 3600)


class FaultPlan(BaseModel):
    count: int = Field(default=1, ge=0, le=1000)  # how many of the next kiosk API responses
    status: int | None = Field(default=None, ge=400, le=599)  # answer this status (ErrorBody internal)
    delay_s: float = Field(default=0, ge=0, le=60)  # wait before answering
    malformed: bool = False  # answer 200 with a body that is not JSON


@dataclass
class _Faults:
    plan: FaultPlan | None = None
    remaining: int = 0

    def take(self, lock: threading.Lock) -> FaultPlan | None:
        with lock:
            if self.plan is None or self.remaining <= 0:
                return None
            self.remaining -= 1
            return self.plan


def install_test_hooks(app: FastAPI, central: Central) -> None:
    faults = _Faults()
    lock = threading.Lock()

    @app.get(TEST_PREFIX + "/clock")
    def clock_now() -> dict[str, str]:
        return {"now": central.clock.now().isoformat()}

    @app.post(TEST_PREFIX + "/clock/advance")
    def clock_advance(body: ClockAdvance) -> dict[str, str]:
        return {"now": central.clock.advance(body.seconds).isoformat()}

    @app.post(TEST_PREFIX + "/faults")
    def set_faults(plan: FaultPlan) -> dict[str, int]:
        with lock:
            faults.plan, faults.remaining = plan, plan.count
        return {"remaining": plan.count}

    @app.delete(TEST_PREFIX + "/faults")
    def clear_faults() -> dict[str, int]:
        with lock:
            faults.plan, faults.remaining = None, 0
        return {"remaining": 0}

    @app.middleware("http")
    async def inject(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        plan = faults.take(lock) if request.url.path.startswith(API_PREFIX) else None
        if plan is None:
            return await call_next(request)
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        if plan.malformed:
            return Response(b'{"order": {"order_id": ', media_type="application/json")
        if plan.status is not None:
            response = error_response(ErrorCode.INTERNAL, "injected fault")
            response.status_code = plan.status
            return response
        return await call_next(request)
