"""Jobs queued by the previous release, named by their old dotted paths, still run."""

from __future__ import annotations

import fakeredis
import pytest
from rq.job import Job

from bot import job_paths
from bot.delivery import jobs as delivery_jobs
from bot.line import jobs as line_jobs
from bot.linking import handlers as linking_handlers
from bot.linking import maintenance

# Every job function the previous release enqueued, by the path RQ stored.
PREVIOUS = {
    "bot.jobs.handle_webhook_events": line_jobs.handle_webhook_events,
    "bot.jobs.requeue_stale_webhook_events": line_jobs.requeue_stale_webhook_events,
    "bot.delivery_jobs.dispatch_due_deliveries": delivery_jobs.dispatch_due_deliveries,
    "bot.delivery_jobs.send_deliveries": delivery_jobs.send_deliveries,
    "bot.delivery_jobs.apply_restock": delivery_jobs.apply_restock,
    "bot.delivery_jobs.requeue_pending_restocks": delivery_jobs.requeue_pending_restocks,
    "handlers.linking.send_link_notice": linking_handlers.send_link_notice,
    "bot.shop_api.maintenance.purge_expired_link_records": maintenance.purge_expired_link_records,
}


@pytest.mark.parametrize("path", sorted(PREVIOUS))
def test_a_job_stored_under_its_old_path_resolves_to_the_function_it_meant(path):
    job_paths.install()
    job = Job.create(path, args=([1],), connection=fakeredis.FakeStrictRedis())
    assert job.func is PREVIOUS[path]


def test_installing_twice_changes_nothing():
    job_paths.install()
    first = {old: job_paths.sys.modules[old] for old in job_paths.PREVIOUS_JOB_MODULES}
    job_paths.install()
    assert {old: job_paths.sys.modules[old] for old in first} == first
