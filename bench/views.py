"""The HTTP benchmark's baseline: a bare DRF view that stores the same event with one INSERT.

Same server, same middleware, same authentication and JSON parsing as POST /api/orders; what
it leaves out is the command path itself (validation into a command, the domain, the event
store's append with its version guards, the idempotency record, the wake-up).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from django.db import connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

RAW_TABLE = "bench_raw_event"
INSERT = (
    f"INSERT INTO {RAW_TABLE} (event_id, stream_id, stream_type, version, event_type, "
    "schema_version, data, metadata, recorded_at) "
    "VALUES (%s, %s, 'Order', 1, 'OrderCreated', 1, %s, %s, %s) RETURNING global_position"
)


class BareInsertView(APIView):
    def post(self, request: Request) -> Response:
        order_id = str(uuid.uuid4())
        data = {"order_id": order_id, **request.data}
        metadata = {
            "command_id": str(uuid.uuid4()),
            "command_type": "CreateOrder",
            "correlation_id": str(uuid.uuid4()),
            "actor": request.user.get_username(),
        }
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT,
                [
                    uuid.uuid4(),
                    f"Order-{order_id}",
                    json.dumps(data),
                    json.dumps(metadata),
                    datetime.now(UTC),
                ],
            )
            (position,) = cursor.fetchone()
        return Response({"order_id": order_id, "version": 1, "position": position}, status=201)
