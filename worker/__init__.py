"""The field side of PayFirst: jobs, the schedule, the poller, the meter drivers and the simulator.

`jobs` holds every RQ job function; `schedule` lists the periodic ones; `poller` runs a poll cycle with
`buses` (the Modbus I/O beside the recording, on a thread or in a child process) and `relays` (writing what the
platform wants); `meters` are the drivers (register maps and codecs); `simulator` serves simulated meters that
read the register tables independently of the drivers; `cli` adds the worker's commands to `flask --app wsgi`.
"""
