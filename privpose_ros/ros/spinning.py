"""Spinning: one node in a background thread (tools and tests), and the node's own loop."""

from __future__ import annotations

import threading
from typing import Any

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


class BackgroundSpinner:
    """Spins ``node`` on its own SingleThreadedExecutor in a daemon thread until :meth:`close`."""

    def __init__(self, node: Any, context: Any, period_s: float = 0.05) -> None:
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=self._period_s)

    def close(self) -> None:
        """Stop the thread (waits at most 5 s) and shut the executor down."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()


def install_stop_signals(stop: threading.Event) -> bool:
    """SIGINT and SIGTERM set ``stop`` (for the rest of the process's life) instead of raising
    KeyboardInterrupt or shutting the context down, so :func:`spin_node` can stop the worker
    before any ROS object goes; a second Ctrl-C (terminal and launch both send one) is as
    harmless as the first. Use with ``rclpy.init(signal_handler_options=SignalHandlerOptions.NO)``.
    False (nothing installed) outside the main thread."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    return True


def ignore_stop_signals() -> None:
    """SIGINT and SIGTERM ignored from now on (the process is exiting, its teardown done)."""
    import signal

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def spin_node(node: Any, stop: threading.Event | None = None) -> None:
    """Spin ``node`` until ``stop`` is set (see :func:`install_stop_signals`) or the context
    shuts down, then shut it down in order: the worker first (``release``: it may be
    publishing), then the lifecycle shutdown (while the context is valid), then the node."""
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while node.context.ok() and not (stop is not None and stop.is_set()):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.release()  # stops and joins the worker; no ROS calls
        if node.context.ok():
            node.trigger_shutdown()
        executor.shutdown()
        node.destroy_node()


def stop_process(proc: Any, timeout_s: float = 15.0) -> None:
    """SIGINT a child process (a node: it shuts down cleanly), kill it if it does not exit."""
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_for_node(predicate: Any, timeout_s: float, proc: Any, what: str, log: Any) -> None:
    """Poll ``predicate`` until true; a node process ``proc`` that exits (its ``log`` Path tail
    in the message) or ``timeout_s`` raise a RuntimeError naming ``what`` was awaited."""
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc.poll() is not None:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pose_node exited ({proc.returncode}) before {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}; see {log}")
        time.sleep(0.05)
