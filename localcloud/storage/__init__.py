"""Azure Storage: the control plane (accounts, file services, shares) and the Files data plane."""
