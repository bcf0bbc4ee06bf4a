"""The container's start, between the share bootstrap and the server (standard library only: it
runs on the image's bare interpreter): check the image's torch, prepare the Python environment the
requirements need (built once, packed on the share, unpacked to local disk by later starts), then
exec the server with it. When the server cannot run, a stand-in answers the probes and says why."""


def log(message: str) -> None:
    print("aitk-infer: " + message, flush=True)
