"""What the commands mean, with examples (knack YAML help)."""
from knack.help_files import helps

helps["aitk-infer"] = """
type: group
short-summary: Serve a LoRA adapter fine-tuned with the AI Toolkit from Azure Container Apps.
long-summary: |
    Run these in your AI Toolkit project folder (the one holding infra/):
    'provision' creates the inference app on a GPU workload profile, reusing the fine-tuning
    resources; 'deploy' pushes the inference server to the Azure Files share, restarts the app
    and waits until it is ready; 'show-endpoint' prints the https endpoint.
examples:
  - name: Create a project folder with the default templates and inference server.
    text: az aitk-infer init --workspace my-project
  - name: Print just the endpoint URL.
    text: az aitk-infer show-endpoint -o tsv --query endpoint
"""

helps["aitk-infer init"] = """
type: command
short-summary: Write the default infra/ templates and inference_src/ server into a folder.
long-summary: |
    For a Cloud Shell user who has only the extension. Files that already exist with other
    content are left alone and the command fails, unless --force is given; nothing is written
    in that case.
examples:
  - name: Create a new project folder.
    text: az aitk-infer init --workspace my-project
  - name: Refresh the bundled files of an existing project, overwriting local edits.
    text: az aitk-infer init --workspace . --force
"""

helps["aitk-infer show-endpoint"] = """
type: command
short-summary: Show the https endpoint of the inference app.
long-summary: |
    Reads ACA_APP_ENDPOINT from infra/inference.config.json, written by
    'az aitk-infer provision' (or by hand after a manual deployment).
examples:
  - name: Show the endpoint, app, resource group and subscription.
    text: az aitk-infer show-endpoint
  - name: Print only the URL, for scripts.
    text: az aitk-infer show-endpoint -o tsv --query endpoint
  - name: Use a project folder other than the current one.
    text: az aitk-infer show-endpoint --workspace ~/my-project -o table
"""
