"""statusTracker(): PySpark's StatusTracker over what kiln's driver
reports on its HTTP port (/api/v1/applications/APP/jobs and /stages).

The driver says which jobs and stages an application has and how far
they are; which job group a job ran in is the client's own record (the
session numbers the jobs it submits, and the Context notes the thread's
group for each). Every call asks the driver afresh, over loopback HTTP or
wherever the driver's --http listens, on the master's host.
"""
import json
import urllib.error
import urllib.request
from collections import namedtuple

SparkJobInfo = namedtuple("SparkJobInfo", "jobId stageIds status")
SparkStageInfo = namedtuple("SparkStageInfo", "stageId currentAttemptId name numTasks numActiveTasks "
                                              "numCompletedTasks numFailedTasks")

_JOB_STATUS = {"running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED"}


class StatusTracker:
    """Jobs and stages of this application, as the driver reports them.

    >>> st = sc.statusTracker()
    >>> sc.setJobGroup("report", "a job in a group")
    >>> sc.parallelize(range(10), 2).count()
    10
    >>> sc.clearJobGroup()
    >>> [j] = st.getJobIdsForGroup("report")
    >>> info = st.getJobInfo(j)
    >>> info.status, len(info.stageIds)
    ('SUCCEEDED', 1)
    >>> st.getStageInfo(info.stageIds[0]).numCompletedTasks
    2
    >>> st.getActiveJobsIds(), st.getActiveStageIds()
    ([], [])
    """

    def __init__(self, ctx):
        self._ctx = ctx

    def _get(self, path):
        base = self._ctx.uiWebUrl
        if base is None:
            raise RuntimeError("the driver did not report its HTTP port: statusTracker needs it")
        url = "%s/api/v1/applications/%s%s" % (base, self._ctx.applicationId, path)
        try:
            req = urllib.request.Request(url, headers={"Authorization": "Bearer " + self._ctx._session.http_token})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def _jobs(self):
        return self._get("/jobs") or []

    def getJobIdsForGroup(self, jobGroup=None):
        """The ids of this application's jobs run in jobGroup (None: the
        jobs run in no group).

        >>> sc.setJobGroup("doc-group", "one job")
        >>> sc.parallelize([1]).count()
        1
        >>> sc.clearJobGroup()
        >>> len(sc.statusTracker().getJobIdsForGroup("doc-group"))
        1
        """
        groups = self._ctx._session.groups
        return [j["job_id"] for j in self._jobs() if groups.get(j["job_id"]) == jobGroup]

    def getActiveJobsIds(self):
        """The ids of the jobs running now.

        >>> sc.statusTracker().getActiveJobsIds()
        []
        """
        return sorted(j["job_id"] for j in self._jobs() if j["state"] == "running")

    def getActiveStageIds(self):
        """The ids of the stages running now (computing, or sampling for a sort).

        >>> sc.statusTracker().getActiveStageIds()
        []
        """
        out = []
        for j in self._jobs():
            if j["state"] != "running":
                continue
            full = self._get("/jobs/%d" % j["job_id"]) or {}
            out.extend(s["stage_id"] for s in full.get("stages", ())
                       if s["stage_id"] is not None and s["state"] in ("running", "sampling"))
        return sorted(out)

    def getJobInfo(self, jobId):
        """SparkJobInfo(jobId, stageIds, status), or None for an unknown job.

        >>> sc.setJobGroup("doc-info", "one job")
        >>> sc.parallelize([1]).count()
        1
        >>> sc.clearJobGroup()
        >>> [j] = sc.statusTracker().getJobIdsForGroup("doc-info")
        >>> sc.statusTracker().getJobInfo(j).status, sc.statusTracker().getJobInfo(10 ** 9)
        ('SUCCEEDED', None)
        """
        j = self._get("/jobs/%d" % int(jobId))
        if j is None:
            return None
        stages = [s["stage_id"] for s in j.get("stages", ()) if s["stage_id"] is not None]
        return SparkJobInfo(j["job_id"], sorted(stages), _JOB_STATUS.get(j["state"], "UNKNOWN"))

    def getStageInfo(self, stageId):
        """SparkStageInfo of a stage, or None for an unknown one.

        >>> sc.setJobGroup("doc-stage", "one job")
        >>> sc.parallelize([1, 2], 2).count()
        2
        >>> sc.clearJobGroup()
        >>> [j] = sc.statusTracker().getJobIdsForGroup("doc-stage")
        >>> st = sc.statusTracker().getStageInfo(sc.statusTracker().getJobInfo(j).stageIds[0])
        >>> st.numTasks, st.numCompletedTasks, sc.statusTracker().getStageInfo(10 ** 9)
        (2, 2, None)
        """
        s = self._get("/stages/%d" % int(stageId))
        if s is None:
            return None
        tasks = s.get("task_list", ())
        attempt = max((t["attempt"] for t in tasks), default=0)
        active = sum(1 for t in tasks if t["state"] == "running")
        return SparkStageInfo(s["stage_id"], attempt, s.get("functions") or s.get("kind", ""), s["tasks"], active,
                              s["tasks_done"], s["failed_attempts"])
