# The image `python -m ntk_course.assignments grade --sandbox docker` runs each submission in:
#   docker build -t ntk-course-grader -f tools/grader.Dockerfile .
# It holds Python, a CPU build of torch and this checkout's course; the grader runs it without
# network, read-only, with the submission's job folder as the only writable place.
FROM python:3.11-slim
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY . /course
RUN pip install --no-cache-dir /course && useradd --uid 1000 student
USER student
