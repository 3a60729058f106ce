#!/usr/bin/env python3
"""The seed's Python load test, as written in the guide (100 concurrent POSTs), plus a check
that every answer was 202. Needs httpx (`python3 -m pip install httpx`).

    ./just run &            # in another terminal
    python3 scripts/seed-load-test.py [http://localhost:8000]
"""
import asyncio
import sys

import httpx

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"


async def load_test():
    async with httpx.AsyncClient() as client:
        tasks = []
        for i in range(100):
            task = client.post(
                f"{BASE}/v1/messages",
                json={
                    "tenant_id": "test",
                    "conversation_id": f"conv-{i}",
                    "role": "user",
                    "content": f"Message {i}"
                }
            )
            tasks.append(task)
        results = await asyncio.gather(*tasks)
        print(f"Completed {len(results)} requests")
        codes = sorted({r.status_code for r in results})
        print(f"Status codes: {codes}")
        if codes != [202]:
            sys.exit(1)


asyncio.run(load_test())
