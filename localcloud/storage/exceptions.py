"""Azure Files errors, each carrying its wire status and error code."""

from __future__ import annotations


class FilesError(Exception):
    status = 400
    code = "InvalidInput"
    default_message = "One of the request inputs is not valid."

    def __init__(self, message: str | None = None, detail: str | None = None):
        self.message = message or self.default_message
        self.detail = detail  # AuthenticationErrorDetail, shown only for signature failures
        super().__init__(self.message)


class AccountNotFound(FilesError):
    status, code = 404, "ResourceNotFound"
    default_message = "The storage account does not exist."


class ShareNotFound(FilesError):
    status, code = 404, "ShareNotFound"
    default_message = "The specified share does not exist."


class ShareAlreadyExists(FilesError):
    status, code = 409, "ShareAlreadyExists"
    default_message = "The specified share already exists."


class ParentNotFound(FilesError):
    status, code = 404, "ParentNotFound"
    default_message = "The specified parent path does not exist."


class ResourceNotFound(FilesError):
    status, code = 404, "ResourceNotFound"
    default_message = "The specified resource does not exist."


class ResourceAlreadyExists(FilesError):
    status, code = 409, "ResourceAlreadyExists"
    default_message = "The specified resource already exists."


class ResourceTypeMismatch(FilesError):
    status, code = 409, "ResourceTypeMismatch"
    default_message = "The specified resource type does not match the type of the existing resource."


class DirectoryNotEmpty(FilesError):
    status, code = 409, "DirectoryNotEmpty"
    default_message = "The specified directory is not empty."


class InvalidResourceName(FilesError):
    status, code = 400, "InvalidResourceName"
    default_message = "The specifed resource name contains invalid characters."


class InvalidHeaderValue(FilesError):
    status, code = 400, "InvalidHeaderValue"
    default_message = "The value for one of the HTTP headers is not in the correct format."


class MissingRequiredHeader(FilesError):
    status, code = 400, "MissingRequiredHeader"
    default_message = "An HTTP header that's mandatory for this request is not specified."


class MissingContentLengthHeader(FilesError):
    status, code = 411, "MissingContentLengthHeader"
    default_message = "The Content-Length header was not specified."


class RequestBodyTooLarge(FilesError):
    status, code = 413, "RequestBodyTooLarge"
    default_message = "The request body is too large and exceeds the maximum permissible limit (4 MiB)."


class InvalidRange(FilesError):
    status, code = 416, "InvalidRange"
    default_message = "The range specified is invalid for the current size of the resource."


class Md5Mismatch(FilesError):
    status, code = 400, "Md5Mismatch"
    default_message = (
        "The MD5 value specified in the request did not match with the MD5 value calculated by the server."
    )


# ---- leases: codes and wording of Storage's lease errors (the Lease Share reference; Azure/Azurite's
# StorageErrorFactory, which holds the same table for blob containers) --------------------------
class LeaseAlreadyPresent(FilesError):
    status, code = 409, "LeaseAlreadyPresent"
    default_message = "There is already a lease present."


class LeaseIdMismatchWithLeaseOperation(FilesError):
    status, code = 409, "LeaseIdMismatchWithLeaseOperation"
    default_message = "The lease ID specified did not match the lease ID for the file share."


class LeaseNotPresentWithLeaseOperation(FilesError):
    status, code = 409, "LeaseNotPresentWithLeaseOperation"
    default_message = "There is currently no lease on the file share."


class LeaseIsBreakingAndCannotBeAcquired(FilesError):
    status, code = 409, "LeaseIsBreakingAndCannotBeAcquired"
    default_message = "The lease ID matched, but the lease is currently in breaking state and cannot be acquired."


class LeaseIsBreakingAndCannotBeChanged(FilesError):
    status, code = 409, "LeaseIsBreakingAndCannotBeChanged"
    default_message = "The lease ID matched, but the lease is currently in breaking state and cannot be changed."


class LeaseIsBrokenAndCannotBeRenewed(FilesError):
    status, code = 409, "LeaseIsBrokenAndCannotBeRenewed"
    default_message = "The lease ID matched, but the lease has been broken explicitly and cannot be renewed."


# What a leased share answers to Delete Share / Set Share Properties / Set Share Metadata: Storage's
# 412 codes for a leased container (a share is the Files "container"; not seen from a live share).
class LeaseIdMissing(FilesError):
    status, code = 412, "LeaseIdMissing"
    default_message = "There is currently a lease on the file share and no lease ID was specified in the request."


class LeaseIdMismatchWithContainerOperation(FilesError):
    status, code = 412, "LeaseIdMismatchWithContainerOperation"
    default_message = "The lease ID specified did not match the lease ID for the file share."


class LeaseNotPresentWithContainerOperation(FilesError):
    status, code = 412, "LeaseNotPresentWithContainerOperation"
    default_message = "A lease ID was specified, but the lease for the file share has expired."


class UnsupportedOperation(FilesError):
    status, code = 400, "UnsupportedQueryParameter"
    default_message = "This operation is not supported by localcloud's Azure Files."


class NoAuthenticationInformation(FilesError):
    status, code = 401, "NoAuthenticationInformation"
    default_message = "Server failed to authenticate the request. No SharedKey Authorization header was sent."


class AuthenticationFailed(FilesError):
    status, code = 403, "AuthenticationFailed"
    default_message = (
        "Server failed to authenticate the request. Make sure the value of Authorization "
        "header is formed correctly including the signature."
    )


class KeyBasedAuthenticationNotPermitted(FilesError):
    # The body Azure answers when allowSharedKeyAccess is false (Azure/AI-Landing-Zones#64).
    status, code = 403, "KeyBasedAuthenticationNotPermitted"
    default_message = "Key based authentication is not permitted on this storage account."


class AuthorizationFailure(FilesError):
    # A bearer token without x-ms-file-request-intent: backup.
    status, code = 403, "AuthorizationFailure"
    default_message = "This request is not authorized to perform this operation."


class AuthorizationPermissionMismatch(FilesError):
    # A bearer token whose principal has no file data role that grants the operation
    # (Azure/azure-sdk-for-java#42121).
    status, code = 403, "AuthorizationPermissionMismatch"
    default_message = "This request is not authorized to perform this operation using this permission."


class InvalidAuthenticationInfo(FilesError):
    # A bearer token Storage cannot accept (signature, expiry, audience); the detail says which.
    status, code = 401, "InvalidAuthenticationInfo"
    default_message = (
        "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."
    )
