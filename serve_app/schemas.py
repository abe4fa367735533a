"""The ingress's response models: the OpenAPI schema schemathesis checks against."""

from __future__ import annotations

from pydantic import BaseModel


class Dispatched(BaseModel):
    status: str = "dispatched"
    job_id: str
    queue_position: int
    target: str
    queue_size: int
    max_queue_size: int
    repo_url: str
    existing: bool = False


class WorkerStatus(BaseModel):
    status: str
    queue_size: int
    in_flight: int
    workers: list[dict]
    max_queue_size: int | None = None  # the cap (MAX_QUEUE_SIZE)


class HistoryJob(BaseModel):
    model_config = {"extra": "allow"}
    repo_url: str | None = None
    status: str
    duration_seconds: float | None = None
    files_processed: int | None = None
    embeddings_generated: int | None = None
    timestamp: str | None = None


class History(BaseModel):
    jobs: list[HistoryJob]
    stats: dict


class JobInfo(BaseModel):
    model_config = {"extra": "allow"}
    job_id: str
    status: str | None
    stage: str | None = None
    progress: float = 0.0
    error: str | None = None
    queue_position: int | None = None


class CancelResult(BaseModel):
    job_id: str
    result: str


class SimilarHit(BaseModel):
    repo_url: str
    file_path: str
    language: str
    score: float
    degree: int
    vector_score: float | None = None  # cosine of the Node2Vec vectors (by=related)
    why: list[str] = []  # "imports it", "changed together 7 times (last ...)", ...; by=role:
    # what it shares with the file asked ("declares 6 exception classes", ...: issue 30)


class Similar(BaseModel):
    repo_url: str
    file_path: str
    by: str  # which vector answered: "related" (Node2Vec) or "role"
    answered_by: str  # "vector+rerank", "vector" (related) or "role"
    results: list[SimilarHit]


class SimilarRepository(BaseModel):
    repo_url: str
    files: int
    distance: float  # between the repositories' graph descriptors (0: same shape)


class SimilarRepositories(BaseModel):
    repo_url: str
    results: list[SimilarRepository]


class Health(BaseModel):
    status: str
    services: dict[str, str]
    version: str
    timestamp: str
    mode: str


class ErrorBody(BaseModel):
    detail: str


ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody},
          429: {"model": ErrorBody}, 503: {"model": ErrorBody}}


class MapFile(BaseModel):
    path: str
    x: float  # the 2-D layout of the file's Node2Vec vector (PCA over the repository)
    y: float
    group: str  # top folder, or "(root)"
    language: str
    degree: int


class RepositoryMap(BaseModel):
    repo_url: str
    files: list[MapFile]  # this page's, sorted by path
    # (importer, imported, kind) of the importers on this page: indices into the whole
    # sorted list (this page's files are offset .. offset + len(files) - 1)
    edges: list[tuple[int, int, str]]
    groups: list[str]  # the top folders, most files first
    total: int = 0  # files in the repository
    offset: int = 0
    limit: int = 0
    next_offset: int | None = None  # the next page's offset; null after the last


class Repositories(BaseModel):
    repositories: list[str]
