"""The ARM template language engine of localcloud: evaluates and deploys ARM JSON templates."""

from .engine import run_deployment, validate_template
from .interfaces import DeploymentScope, ResourceProvider

__all__ = ["DeploymentScope", "ResourceProvider", "run_deployment", "validate_template"]
