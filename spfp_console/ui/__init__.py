"""The Textual console: the only package that imports Textual.

It renders the folded :class:`~spfp_console.session.state.SessionState` of a
:class:`~spfp_console.deployment.DeploymentSession`, answers the session's questions
(:class:`~spfp_console.session.operator.Operator`) with modal screens, and runs every
workflow in a thread worker.  It never re-implements a workflow: the headless CLI and the
console drive the same session.
"""
