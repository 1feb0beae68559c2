"""A small client for the parts of Label Studio's REST API that alloop uses, on httpx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = ["LabelStudio", "LabelStudioError"]


class LabelStudioError(RuntimeError):
    """Label Studio answered 4xx/5xx."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Label Studio {status}: {detail[:500]}")
        self.status = status
        self.detail = detail


class LabelStudio:
    """Talks to one Label Studio server with a user's API token.

    A legacy token (``Authorization: Token ...``) is used as is; a personal access token
    (a JWT refresh token) is exchanged for short-lived access tokens as needed.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self._access: str | None = None
        self._access_at = 0.0

    def __enter__(self) -> LabelStudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _auth(self) -> str:
        if self.token.count(".") != 2:  # a legacy token
            return f"Token {self.token}"
        if self._access is None or time.monotonic() - self._access_at > 240:
            answer = self.http.post("/api/token/refresh", json={"refresh": self.token})
            if answer.status_code >= 400:
                raise LabelStudioError(answer.status_code, answer.text)
            self._access, self._access_at = answer.json()["access"], time.monotonic()
        return f"Bearer {self._access}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one call; the JSON answer (None when empty), or :class:`LabelStudioError`."""
        headers = {"Authorization": self._auth(), **kwargs.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise LabelStudioError(response.status_code, response.text)
        return response.json() if response.content else None

    def create_project(self, title: str, label_config: str, **fields: Any) -> dict[str, Any]:
        """POST /api/projects."""
        return self.request("POST", "/api/projects", json={"title": title, "label_config": label_config, **fields})

    def project(self, project_id: int) -> dict[str, Any]:
        return self.request("GET", f"/api/projects/{project_id}")

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH /api/projects/{id}, e.g. ``model_version`` or ``sampling``."""
        return self.request("PATCH", f"/api/projects/{project_id}", json=fields)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        """Import tasks (``[{"data": {...}}, ...]``)."""
        return self.request("POST", f"/api/projects/{project_id}/import", json=tasks)

    def tasks(self, project_id: int, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every task of a project, page by page."""
        page = 1
        while True:
            try:
                answer = self.request("GET", "/api/tasks", params={"project": project_id, "page": page,
                                                                   "page_size": page_size})
            except LabelStudioError as exc:
                if exc.status == 404:  # past the last page
                    return
                raise
            batch = answer["tasks"] if isinstance(answer, dict) else answer
            yield from batch
            if len(batch) < page_size:
                return
            page += 1

    def annotated_tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Tasks with their annotations (Label Studio's JSON export of annotated tasks)."""
        return self.request("GET", f"/api/projects/{project_id}/export", params={"exportType": "JSON"})

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        """Bulk-create predictions ``[{"task", "result", "score", "model_version"}]``."""
        return self.request("POST", f"/api/projects/{project_id}/import/predictions", json=predictions)

    def model_versions(self, project_id: int) -> dict[str, int]:
        """The prediction model versions a project holds, with their prediction counts."""
        return self.request("GET", f"/api/projects/{project_id}/model-versions/") or {}

    def delete_model_version(self, project_id: int, version: str) -> int:
        """Delete every prediction of ``version`` in the project; answers how many."""
        answer = self.request("DELETE", f"/api/projects/{project_id}/model-versions/", json={"model_version": version})
        return int((answer or {}).get("deleted_predictions", 0))

    def predictions(self, project_id: int) -> list[dict[str, Any]]:
        """Every prediction of a project."""
        return self.request("GET", "/api/predictions", params={"project": project_id})

    def update_task(self, task_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH /api/tasks/{id}, e.g. ``is_labeled``."""
        return self.request("PATCH", f"/api/tasks/{task_id}", json=fields)

    def create_webhook(self, project_id: int, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """A webhook that sends every annotation event of the project, with its payload, to ``url``."""
        return self.request("POST", "/api/webhooks", json={
            "project": project_id, "url": url, "send_payload": True, "send_for_all_actions": True,
            "headers": headers or {}, "is_active": True,
        })

    def add_ml_backend(self, project_id: int, url: str, *, title: str = "alloop",
                       token: str | None = None) -> dict[str, Any]:
        """Connect an ML backend (Basic auth with the token as password when one is given)."""
        body: dict[str, Any] = {"url": url, "project": project_id, "title": title, "is_interactive": False}
        if token:
            body.update(auth_method="BASIC_AUTH", basic_auth_user="alloop", basic_auth_pass=token)
        return self.request("POST", "/api/ml", json=body)

    def ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        return self.request("GET", "/api/ml", params={"project": project_id})

    def delete_ml_backend(self, backend_id: int) -> None:
        self.request("DELETE", f"/api/ml/{backend_id}")

    def delete_webhook(self, webhook_id: int) -> None:
        self.request("DELETE", f"/api/webhooks/{webhook_id}")

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        return self.request("GET", "/api/webhooks", params={"project": project_id})

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("PATCH", f"/api/webhooks/{webhook_id}", json=fields)

    def next_task(self, project_id: int) -> dict[str, Any]:
        """The task Label Studio's labeling stream serves this user next."""
        return self.request("GET", f"/api/projects/{project_id}/next")

    def annotate(self, task_id: int, result: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """Create an annotation on a task (as the token's user)."""
        return self.request("POST", f"/api/tasks/{task_id}/annotations", json={"result": result, **fields})
