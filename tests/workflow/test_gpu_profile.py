"""The dedicated A100 profile of a reused environment: provisioning the inference app never lowers
the node count fine-tuning (or an earlier provision) gave it."""


def gpu_profile(project):
    config = project.config
    environment = project.az_json("containerapp", "env", "show", "-g", config["RESOURCE_GROUP_NAME"], "-n",
                                  config["ACA_ENVIRONMENT_NAME"])
    (profile,) = [p for p in environment["properties"]["workloadProfiles"] if p["name"] == "GPU"]
    return profile


def test_a_reused_dedicated_gpu_profile_keeps_the_larger_maximum_count(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-a100", "-l", "westus3", "--yes", "-o", "none",
                   "--parameters", "gpuProfileType=NC24-A100", "maximumInstanceCount=4")
    assert gpu_profile(new_project)["maximumCount"] == 4
    new_project.az("aitk-infer", "provision", "-o", "none", "--parameters", "gpuProfileType=NC24-A100",
                   "maximumInstanceCount=2")
    assert gpu_profile(new_project)["maximumCount"] == 4
    new_project.az("aitk-infer", "provision", "-o", "none", "--parameters", "gpuProfileType=NC24-A100",
                   "maximumInstanceCount=6")
    assert gpu_profile(new_project)["maximumCount"] == 6
