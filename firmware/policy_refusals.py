"""The policy store's refusals (firmware/policy.py): a correctly signed policy this unit must
not use. Loaded the first time a policy is refused; ``firmware.policy`` offers each by name, so
``from firmware.policy import PolicyExpired`` keeps working and gives these very classes."""


class PolicyRefused(Exception):
    """A correctly signed policy this unit must not use (see the subclasses)."""

    code = "policy_refused"


class PolicyExpired(PolicyRefused):
    code = "policy_expired"


class PolicyRollback(PolicyRefused):
    """Not newer (by version) than the policy it would replace."""

    code = "policy_rollback"


class PolicyClassMissing(PolicyRefused):
    """The policy has no rates for this unit's vehicle class: nothing could be priced."""

    code = "policy_class_missing"


class ClockUnknown(PolicyRefused):
    """No GNSS time yet: expiry cannot be judged. Try again once there is a fix."""

    code = "clock_unknown"
