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
  - name: Provision, deploy and print the endpoint, in the project folder.
    text: az aitk-infer provision -g my-finetune-rg
  - name: Print just the endpoint URL.
    text: az aitk-infer show-endpoint -o tsv --query endpoint
"""

helps["aitk-infer provision"] = """
type: command
short-summary: Create (or update) the GPU inference app on Azure Container Apps.
long-summary: |
    Deploys infra/provision/inference.bicep (compiled by the bicep CLI when az has one, else its
    ARM twin inference.json, which must be in step with it) with the values of
    infra/provision/inference.parameters.json and --parameters. Names left null reuse the
    fine-tuning resources (storage account, share, environment, Log Analytics); only the app is
    added. Writes infra/inference.config.json from the deployment outputs (the folder must be
    writable; that is checked before anything changes in Azure). Running it again changes nothing
    and writes the same config: an existing app keeps its region and what it has (API key, scale,
    GPU profile, image, model paths, extra variables, tags) unless --parameters change it.
examples:
  - name: Provision into the fine-tuning resource group.
    text: az aitk-infer provision -g my-finetune-rg
  - name: Use serverless A100 GPUs, up to 3 replicas, scaling to zero when idle.
    text: az aitk-infer provision -g my-rg --parameters gpuProfileType=Consumption-GPU-NC24-A100 maximumInstanceCount=3 minimumInstanceCount=0
  - name: Create a new resource group in a region with serverless GPUs, without prompting.
    text: az aitk-infer provision -g my-new-rg --location westus3 --yes
  - name: Start the deployment and return at once.
    text: az aitk-infer provision -g my-rg --no-wait
"""

helps["aitk-infer wait"] = """
type: command
short-summary: Wait until the ARM deployment of 'az aitk-infer provision --no-wait' is done.
long-summary: |
    Then run 'az aitk-infer provision' once more (it changes nothing) to write
    infra/inference.config.json from the deployment outputs.
examples:
  - name: Start provisioning, wait for it, then write the config.
    text: az aitk-infer wait --created
  - name: Wait up to 30 minutes, checking every 10 seconds.
    text: az aitk-infer wait --created --timeout 1800 --interval 10
"""

helps["aitk-infer deploy"] = """
type: command
short-summary: Push the inference server (and optionally model files) to the share, restart, wait.
long-summary: |
    Uploads only what changed since the last deploy (a manifest on the share decides) as a new
    complete version, then switches the app to it in one step, so a replica that starts at any
    moment runs a whole old or a whole new version. The last versions are kept for --rollback.
    Then restarts the app's latest revision and waits until its /ready answers.
examples:
  - name: Deploy the project's inference_src/ and wait until the endpoint is ready.
    text: az aitk-infer deploy
  - name: Also upload a locally trained adapter and its base model.
    text: az aitk-infer deploy --adapter-dir ./adapter --base-model-dir ./base-model
  - name: Upload only, restart later.
    text: az aitk-infer deploy --no-restart
  - name: Go back to the previous version.
    text: az aitk-infer deploy --rollback
  - name: Restart without waiting for the endpoint.
    text: az aitk-infer deploy --no-wait
"""

helps["aitk-infer logs"] = """
type: command
short-summary: Show the console log of the app's latest revision.
examples:
  - name: The last 100 lines.
    text: az aitk-infer logs --tail 100
  - name: Follow the log while a replica starts.
    text: az aitk-infer logs --follow
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
  - name: Ask Azure for the current FQDN and whether the app is ready.
    text: az aitk-infer show-endpoint --live
"""
