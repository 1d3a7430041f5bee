"""Remote-support meetings: scheduling, invite links, attendance, reminders, records and statistics.

Start at :class:`rooms.meetings.service.MeetingService`; docs/CARE.md
(*Remote-support meetings*) describes the flow, its routes and events.
"""
