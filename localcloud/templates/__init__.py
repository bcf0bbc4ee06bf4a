"""The ARM template language engine of localcloud: evaluates and deploys ARM JSON templates."""

from .engine import DeploymentScope, ResourceProvider, TemplateError, run_deployment, validate_template

__all__ = ["DeploymentScope", "ResourceProvider", "TemplateError", "run_deployment", "validate_template"]
