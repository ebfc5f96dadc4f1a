"""Meter drivers: profiles (data), one codec, and gateway I/O over Modbus TCP / RTU-over-TCP."""

from .codec import (
                    Command,
                    Reading,
                    Write,
                    decode,
                    decode_fields,
                    encode,
                    set_control_mode,
                    set_keep_power,
                    set_power_limit,
                    set_price,
                    set_supply,
                    write_deduction,
                    write_purchase,
)
from .errors import (
                    DecodeError,
                    GatewayDown,
                    MeterError,
                    MeterOffline,
                    MeterRejected,
                    MeterTimeout,
                    StaleReply,
                    Unsupported,
                    WriteNotConfirmed,
)
from .gateway import GatewayClient
from .poll import poll_gateway, poll_many
from .profiles import PROFILES, Capabilities, Profile, get_profile

__all__ = [
    "PROFILES", "Capabilities", "Command", "DecodeError", "GatewayClient", "GatewayDown",
    "MeterError", "MeterOffline", "MeterRejected", "MeterTimeout", "Profile", "Reading",
    "StaleReply", "Unsupported", "Write", "WriteNotConfirmed", "decode", "decode_fields", "encode",
    "get_profile", "poll_gateway", "poll_many", "set_control_mode", "set_keep_power",
    "set_power_limit", "set_price", "set_supply", "write_deduction", "write_purchase",
]
