"""Every AWS SDK error mapped once to retry semantics, with `[site, region, server]` in the message.

    botocore error                                   -> Standby error
    throttling, 5xx, connection and read timeouts    -> ProviderError (the activity's retry policy tries again)
    AccessDenied, validation, not found, no creds    -> PermanentProviderError (non-retryable)
    any other 4xx                                    -> PermanentProviderError: the same request fails the same way
"""

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from activities.sites.base import PermanentProviderError, ProviderError

THROTTLING = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
}
TRANSIENT = {
    "InternalServerException", "InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "RequestTimeout", "RequestTimeoutException", "ConflictException", "IncorrectInstanceState",
}


def code_of(error: ClientError) -> str:
    """The AWS error code of a ClientError (`AccessDeniedException`, `InvalidSubnetID.NotFound`, ...)."""
    return str(error.response.get("Error", {}).get("Code", "")) or "Unknown"


def status_of(error: ClientError) -> int:
    """The HTTP status of a ClientError; 0 when the response has none."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def retryable(error: ClientError) -> bool:
    """Whether trying the same call later can succeed: throttling, transient conflicts and 5xx."""
    code = code_of(error)
    return code in THROTTLING or code in TRANSIENT or status_of(error) >= 500


def context(describe: str, **where: str | None) -> str:
    """`site=dr, region=eu-west-1, server=s-1234`: the provider's describe() and what the call was about."""
    return ", ".join([describe, *(f"{k}={v}" for k, v in where.items() if v)])


SDK_ERRORS = (ClientError, BotoCoreError)


def mapped(error: ClientError | BotoCoreError, call: str, where: str) -> ProviderError:
    """The Standby error for an SDK error raised by `call` (e.g. `drs.start_recovery`)."""
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        text = f"{call} failed [{where}]: {code_of(error)}: {message}"
        return ProviderError(text) if retryable(error) else PermanentProviderError(text)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, ProfileNotFound)):
        return PermanentProviderError(f"{call} failed [{where}]: {error} (credentials come from the worker's "
                                      "environment: AWS_PROFILE, the site's profile, or an instance role)")
    if isinstance(error, ParamValidationError):
        return PermanentProviderError(f"{call} failed [{where}]: {error}")
    # Connection errors, timeouts and whatever else the SDK raises below HTTP: another try may get through.
    return ProviderError(f"{call} failed [{where}]: {error}")
