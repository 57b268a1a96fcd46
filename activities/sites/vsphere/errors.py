"""vSphere faults mapped once to retry semantics, each message ending in `[site=..., vcenter=..., vm=...]`.

    PermanentProviderError   invalid login, no permission, not found, invalid argument, unsupported,
                             certificate not trusted: retrying cannot help
    ProviderError            task in progress, invalid state, timeouts, lost connections, vCenter busy:
                             the activity's retry policy tries again
"""

import ssl

from pyVmomi import vim, vmodl

from activities.sites.base import PermanentProviderError, ProviderError

PERMANENT_FAULTS: tuple[type, ...] = (
    vim.fault.InvalidLogin,
    vim.fault.NoPermission,  # NotAuthenticated is one too, but Session renews it before it gets here
    vim.fault.NotFound,
    vmodl.fault.ManagedObjectNotFound,
    vmodl.fault.InvalidArgument,
    vim.fault.InvalidName,
    vim.fault.InvalidDatastore,
    vmodl.fault.NotSupported,
    vmodl.fault.NotImplemented,
    vmodl.fault.MethodNotFound,
    vim.fault.CustomizationFault,
    vim.fault.NicSettingMismatch,
)


def where(site: str, vcenter: str, vm: str | None = None) -> str:
    """`site=dr, vcenter=vc-dr.example.org, vm=erp-db-01`."""
    return f"site={site}, vcenter={vcenter}" + (f", vm={vm}" if vm else "")


def fault_text(fault: BaseException) -> str:
    """A fault's own message, or its type and useful fields when the server sent none."""
    message = getattr(fault, "msg", None) or ""
    name = type(fault).__name__.rsplit(".", 1)[-1]
    if isinstance(fault, vim.fault.NoPermission) and getattr(fault, "privilegeId", None):
        return f"{name}: privilege {fault.privilegeId} missing" + (f" ({message})" if message else "")
    if isinstance(fault, vmodl.MethodFault):
        return f"{name}: {message}" if message else name
    return f"{name}: {fault}"


def mapped(error: BaseException, what: str, context: str) -> ProviderError:
    """The provider error for a fault or exception raised while doing `what`."""
    if isinstance(error, ProviderError):
        return error
    text = f"{what} failed: {fault_text(error)} [{context}]"
    if isinstance(error, ssl.SSLCertVerificationError):
        return PermanentProviderError(
            f"{what} failed: the vCenter's certificate is not trusted ({error.verify_message}); give the site a "
            f"ca_file, or set insecure: true for a lab vCenter [{context}]")
    if isinstance(error, vim.fault.InvalidLogin):
        return PermanentProviderError(
            f"{what} failed: invalid login; check the site's credentials_file or VSPHERE_USER and "
            f"VSPHERE_PASSWORD of the worker [{context}]")
    if isinstance(error, PERMANENT_FAULTS):
        return PermanentProviderError(text)
    if isinstance(error, (ConnectionError, TimeoutError)):
        return ProviderError(f"{what} failed: the vCenter does not answer ({fault_text(error)}) [{context}]")
    # TaskInProgress, InvalidState, Timedout, HostCommunication, DuplicateName (a concurrent try made it),
    # dropped connections and anything unforeseen: the activity's retry policy tries again.
    return ProviderError(text)


def not_found(what: str, context: str, hint: str = "") -> PermanentProviderError:
    """A permanent error for an inventory object that does not exist."""
    return PermanentProviderError(f"{what} not found{'; ' + hint if hint else ''} [{context}]")
