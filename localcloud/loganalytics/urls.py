"""Log Analytics' routes: its ARM resource type, served by ARM's generic routes."""

from __future__ import annotations

from localcloud.loganalytics.models import Workspaces

resource_kinds = [Workspaces]
