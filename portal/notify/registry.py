"""The process's channels by the names deliveries carry (wechat, aliyun, modem, log), each made once from the
settings and kept for the app's life: a channel keeps what it needs between sends (an SDK client and its
connections, the official account's token storage). New settings (a test's, a restarted app's) make new ones.

A channel whose settings are missing is None: the sender fails its deliveries on it with a clear message and
falls back to their next channel.
"""
from __future__ import annotations

import threading

from flask import current_app

from portal.notify.channels import aliyun, log, modem, wechat
from portal.notify.channels.base import Channel
from portal.queue.dispatch import redis_connection
from portal.settings import Settings, current

#: every channel a delivery may name
NAMES = ("wechat", "aliyun", "modem", "log")

_lock = threading.Lock()


def channel(name: str) -> Channel | None:
    """The app's channel of this name, made on first use; None when it is not configured (or unknown)."""
    app, settings = current_app._get_current_object(), current()
    with _lock:  # the sender's threads ask at once; each channel is made once
        made = app.extensions.get("payfirst.notify_channels")
        if made is None or made[0] is not settings:
            made = app.extensions["payfirst.notify_channels"] = (settings, {})
        channels = made[1]
        if name not in channels:
            channels[name] = _make(name, settings)
        return channels[name]


def _make(name: str, settings: Settings) -> Channel | None:
    if name == "wechat":
        return wechat.from_settings(settings, redis=redis_connection())
    if name == "aliyun":
        return aliyun.from_settings(settings)
    if name == "modem":
        return modem.from_settings(settings)
    if name == "log":
        return log.from_settings(settings)
    return None
