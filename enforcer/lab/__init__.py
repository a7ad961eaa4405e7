"""The network-namespace lab: real FRR, nftables/tc, Open vSwitch and os-ken on one machine.

Used by the tests, the demo and CI. Every process is tracked by PID in the lab's state file and
stopped by PID; every namespace carries the lab's prefix, so ``lab down`` leaves nothing behind.
"""
